"""Running Cairn's real operator (Kopf + its handlers) against the API emulator.

``OperatorHarness`` installs the CRDs, starts the operator with
``KopfRunner`` (its own thread and loop) and test-speed timings, and can stop
and restart it, which is how the tests crash the operator: a crash hook makes
a wake hang at a named point, the test stops the runner there (Kopf cancels
the hung wake, as a dying process would), and a fresh operator resumes from
what the cluster holds. Helpers wait on conditions, never on bare sleeps.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kopf.testing import KopfRunner

from cairn.k8s import operator
from cairn.k8s.arbiter import WorkflowKey
from cairn.k8s.loop import LoopTuning
from cairn.k8s.resources import CIRUN_PLURAL, CIWORKFLOW_PLURAL, GROUP, LABEL_RUN
from cairn.k8s.runs import RunTuning
from cairn.k8s.settings import OperatorSettings
from tests.kubeapi import KubeApiEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]
CRDS = ("cirun.yaml", "ciworkflow.yaml", "runnerclass.yaml")
NAMESPACE = "default"
CIRUNS = f"{CIRUN_PLURAL}.{GROUP}"
CIWORKFLOWS = f"{CIWORKFLOW_PLURAL}.{GROUP}"
TERMINAL = ("Succeeded", "Failed", "Cancelled", "Error")

FAST_LOOP = LoopTuning(
    start_coalesce_seconds=0.2,
    result_grace_seconds=0.3,
    retry_first_seconds=0.05,
    retry_max_seconds=1.0,
)
FAST_RUNS = RunTuning(aggregate_seconds=0.2, source_retry_seconds=0.2, retry_first_seconds=0.05)


@dataclass
class CrashAt:
    """Make the ``count``-th wake that reaches ``point`` hang there (a crash)."""

    point: str
    count: int = 1
    reached: threading.Event = field(default_factory=threading.Event)
    #: also set when the crash happens (a test may wait for several things at once)
    signal: threading.Event | None = None
    seen: int = 0

    async def __call__(self, key: WorkflowKey, where: str) -> None:
        if where != self.point or self.reached.is_set():
            return
        self.seen += 1
        if self.seen < self.count:
            return
        self.reached.set()
        if self.signal is not None:
            self.signal.set()
        await asyncio.Event().wait()  # never returns: the operator is "dead" here


def install_crds(api: KubeApiEmulator) -> None:
    for name in CRDS:
        api.register_crd(REPO_ROOT / "crds" / name)


def options(**overrides: Any) -> operator.OperatorOptions:
    values: dict[str, Any] = {
        "settings": OperatorSettings(namespaces=(NAMESPACE,), callback_base_url=None),
        "loop_tuning": FAST_LOOP,
        "run_tuning": FAST_RUNS,
        "event_flush_seconds": 0.2,
    }
    values.update(overrides)
    return operator.OperatorOptions(**values)


class OperatorHarness:
    def __init__(self, api: KubeApiEmulator, **overrides: Any) -> None:
        self.api = api
        self.overrides = overrides
        self._runner: KopfRunner | None = None

    def start(self, **overrides: Any) -> OperatorHarness:
        operator.configure(options(**{**self.overrides, **overrides}))
        args = ["run", "--standalone", "--namespace", NAMESPACE]
        self._runner = KopfRunner(args, registry=operator.registry, timeout=60)
        self._runner.__enter__()
        for resource in (CIRUNS, CIWORKFLOWS, "jobs.batch", "pods"):
            self.api.wait_for_watches(resource, timeout=20)
        return self

    def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.__exit__(None, None, None)
            operator.configure(None)
            assert runner.exception is None, runner.exception

    def restart(self, **overrides: Any) -> None:
        self.stop()
        self.start(**overrides)

    def __enter__(self) -> OperatorHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- replicas with peering, each a process of its own -----------------------------------------

PEERING_CRDS = "kopf-peering.yaml"
CLUSTER_PEERINGS = "clusterkopfpeerings.kopf.dev"
NAMESPACED_PEERINGS = "kopfpeerings.kopf.dev"
#: seconds a replica's peering record lives without renewal: short, so a failover takes
#: seconds, yet 4 s above Kopf's 1 s renewals, so a loaded machine cannot fake a death
TEST_PEERING_LIFETIME = 5


def install_peering(
    api: KubeApiEmulator, name: str = "cairn", namespace: str | None = None
) -> tuple[str, str | None]:
    """The peering CRDs and one peering object (a ClusterKopfPeering, or a KopfPeering in
    ``namespace``), as ``manifests/peering.yaml`` installs it; returns (resource, namespace)."""
    api.register_crd(REPO_ROOT / "crds" / PEERING_CRDS)
    resource = CLUSTER_PEERINGS if namespace is None else NAMESPACED_PEERINGS
    api.create(resource, {"metadata": {"name": name}}, namespace)
    return resource, namespace


class OperatorReplica:
    """One replica of the operator Deployment: ``cairn operator`` with Kopf peering,
    in a process of its own.

    Kopf keeps its state per process (the peering identity comes from ``$POD_ID``,
    the login from ``$KUBECONFIG``, logging is global), and a replica must be
    killable the way a node kills a pod: SIGKILL, no goodbye in the peering object.
    So each replica is a subprocess running the real CLI, registry and handlers;
    it logs in as its own emulator user, so the request log tells who did what
    (``api.request_count(..., user=replica.user)``).
    """

    def __init__(
        self,
        api: KubeApiEmulator,
        user: str,
        priority: int,
        workdir: Path,
        *,
        namespaces: Sequence[str] = (),
        peering: str = "cairn",
        lifetime: int = TEST_PEERING_LIFETIME,
    ) -> None:
        self.api = api
        self.user = user
        self.priority = priority
        api.add_user(user)
        self.kubeconfig = api.write_kubeconfig(workdir / f"{user}.kubeconfig", user=user)
        self.log_path = workdir / f"{user}.log"
        self.args = ["--peering", peering, "--priority", str(priority), "--liveness", ""]
        self.args += [arg for ns in namespaces for arg in ("--namespace", ns)] or ["-A"]
        self.lifetime = lifetime
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorReplica:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
        environ.update(
            KUBECONFIG=str(self.kubeconfig),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), environ.get("PYTHONPATH")])),
            POD_ID=self.user,  # Kopf's peer identity
            CAIRN_POD_NAME=self.user,
            CAIRN_CALLBACK_BASE_URL="",  # results through termination messages only
            CAIRN_PEERING_LIFETIME_SECONDS=str(self.lifetime),
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.integration.operator_harness", *self.args],
                cwd=REPO_ROOT,
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    def kill(self) -> None:
        """Die at once, as a node kills a pod: no cleanup, the peering record stays."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """Shut down cleanly (SIGTERM, as on a rollout): Kopf removes its peering record."""
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signum)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def peers(api: KubeApiEmulator, resource: str, namespace: str | None) -> dict[str, Any]:
    """The records of the peering object: identity -> priority, lifetime, lastseen."""
    return dict(api.get(resource, "cairn", namespace).get("status") or {})


def _replica_main(argv: Sequence[str]) -> int:
    """``cairn operator ARGV``: the real CLI (argument parsing, settings, registry);
    the peering lifetime comes from ``CAIRN_PEERING_LIFETIME_SECONDS``."""
    from cairn import cli

    return cli.main(["operator", *argv])


# --- objects and waiting ----------------------------------------------------------------------


def cirun(name: str, workflows: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cairn.dev/v1alpha1",
        "kind": "CIRun",
        "metadata": {"name": name},
        "spec": {
            "workflows": [{"name": n, "content": c} for n, c in workflows.items()],
            "event": {
                "name": "push",
                "payload": {
                    "ref": "refs/heads/main",
                    "repository": {"full_name": "acme/app", "owner": {"login": "acme"}},
                    "sender": {"login": "octocat"},
                },
            },
            **spec,
        },
    }


def phase_is(*phases: str) -> Callable[[dict[str, Any] | None], bool]:
    return lambda obj: obj is not None and (obj.get("status") or {}).get("phase") in phases


def wait_run(
    api: KubeApiEmulator, name: str, *phases: str, timeout: float = 30.0
) -> dict[str, Any]:
    found = api.wait_for(
        CIRUNS, name, NAMESPACE, predicate=phase_is(*(phases or TERMINAL)), timeout=timeout
    )
    assert found is not None
    return found


def workflows_of(api: KubeApiEmulator, run: str) -> list[dict[str, Any]]:
    return api.list(CIWORKFLOWS, NAMESPACE, label_selector=f"{LABEL_RUN}={run}")


def workflow_of(api: KubeApiEmulator, run: str) -> dict[str, Any]:
    (found,) = workflows_of(api, run)
    return found


def jobs_state(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(((workflow.get("status") or {}).get("state") or {}).get("j") or {})


def wait_workflow(
    api: KubeApiEmulator,
    name: str,
    predicate: Callable[[dict[str, Any]], bool],
    timeout: float = 30.0,
) -> dict[str, Any]:
    found = api.wait_for(
        CIWORKFLOWS,
        name,
        NAMESPACE,
        predicate=lambda obj: obj is not None and predicate(obj),
        timeout=timeout,
    )
    assert found is not None
    return found


def job_phase(workflow: dict[str, Any], instance_id: str) -> str | None:
    job = jobs_state(workflow).get(instance_id)
    if job is None:
        return None
    return str(job.get("c") or job.get("p") or "pending")


def conclusions(workflow: dict[str, Any]) -> dict[str, str | None]:
    return {i: j.get("c") for i, j in jobs_state(workflow).items()}


def job_names_created(api: KubeApiEmulator) -> list[str]:
    return sorted(job["metadata"]["name"] for job in api.list("jobs.batch", NAMESPACE))


def events_about(api: KubeApiEmulator, name: str) -> list[dict[str, Any]]:
    return [e for e in api.list("events", NAMESPACE) if e["involvedObject"]["name"] == name]


def names(items: Iterable[dict[str, Any]]) -> list[str]:
    return sorted(i["metadata"]["name"] for i in items)


if __name__ == "__main__":
    sys.exit(_replica_main(sys.argv[1:]))
