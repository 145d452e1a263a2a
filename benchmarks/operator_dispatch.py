"""The operator against the Kubernetes API emulation: dispatch latency, API
requests per job, the size of a big CIWorkflow, memory with idle workflows.

    python benchmarks/operator_dispatch.py [--chain 50] [--wide 1000] [--idle 500]

The real operator (``cairn operator --standalone``) runs as a child process
against the emulator on loopback; this process plays the kubelet and the Job
controller instantly (no runner: a pod is created already terminated, with a
successful result as its termination message), so what is measured is the
operator alone. One run prints:

(a) **dispatch latency** over a chain of ``--chain`` jobs: from the moment a
    job's pod is written as terminated to the creation of the Job of the job
    that needs it, both taken as the emulator commits them (the API server's
    own moments, not when a thread of this benchmark hears of them); p50 and
    p99, divided by the raw API round trip (creating a ConfigMap over HTTP)
    measured in the same run, twice: back to back, and paced at the chain's
    rhythm (one request every JOB_SECONDS, after an idle pause as each
    dispatch comes). Target: p50 <= 5x. For scale, the same dispatch by a bare
    Kopf operator (one handler creating a pre-rendered Job when a pod
    terminates, same client, same rhythm) is measured too: what any Kopf
    operator pays, and so what of the p50 is Cairn's own.
(b) **API requests per job instance**, every request the operator made during
    the chain (counted at the emulator), divided by the number of jobs.
    Target: <= 4.
(c) **object size** of the CIWorkflow of a ``--wide``-job workflow once it
    finished (spec with the compiled plan, and status with the checkpoint),
    against the 512 KiB budget.
(d) **operator memory** (RSS) with ``--idle`` CIWorkflows whose jobs are all
    running (the kubelet never finishes them), against the same operator's RSS
    before any run existed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_KUBECONFIG = Path(tempfile.mkdtemp(prefix="cairn-bench-")) / "kubeconfig"
os.environ["KUBECONFIG"] = str(_KUBECONFIG)  # before anything imports kubernetes

from tests.kubeapi import KubeApiEmulator  # noqa: E402

from cairn.engine.jobspec import JobResult  # noqa: E402
from cairn.k8s import resources  # noqa: E402
from cairn.runner.termination import encode_termination_message  # noqa: E402

NAMESPACE = "bench"
#: a namespace no operator watches, for the baselines
QUIET = "bench-baselines"
PROFILE = os.environ.get("OPERATOR_BENCH_PROFILE", "").split()
CIRUNS = "ciruns.cairn.dev"
CIWORKFLOWS = "ciworkflows.cairn.dev"
BUDGET_BYTES = 512 * 1024
#: how long each benchmark job "runs" once its pod started
JOB_SECONDS = 0.02
#: how long after its pod the Job controller writes a Job's own completion (in a
#: cluster another process does it concurrently; here it would contend for the
#: emulator's interpreter exactly while the operator dispatches)
JOB_CONTROLLER_SECONDS = 0.01
TERMINAL = ("Succeeded", "Failed", "Cancelled", "Error")


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class InstantKubelet:
    """Plays the node and the Job controller. A new Job's pod starts once its spec
    ConfigMap exists (a real pod cannot start before), "runs" for ``JOB_SECONDS``
    (far less than a real pod's start-up alone, so the measure stays the
    operator's), then is written terminated with a successful result. With
    ``hang`` the pod runs forever."""

    def __init__(self, api: KubeApiEmulator, *, hang: bool = False) -> None:
        self.api = api
        self.hang = hang
        self.created: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._pool = ThreadPoolExecutor(max_workers=16)
        self._stop = False

    def __enter__(self) -> InstantKubelet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        selector = f"{resources.LABEL_MANAGED_BY}={resources.MANAGED_BY}"
        since = self.api.store.resource_version  # only Jobs created from now on
        for change in self.api.changes_sync(
            "jobs.batch", NAMESPACE, label_selector=selector, since=since, timeout=3600
        ):
            if self._stop:
                return
            name = change.object["metadata"]["name"]
            if change.type != "ADDED" or name in self.created:
                continue
            self.created[name] = time.perf_counter()
            self._pool.submit(self._pod, change.object)

    def _pod(self, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        template = job["spec"]["template"]
        instance_id = template["metadata"]["annotations"][resources.ANNOTATION_INSTANCE_ID]
        attempt = int(meta["labels"][resources.LABEL_ATTEMPT])
        self.api.wait_for("configmaps", meta["name"], NAMESPACE, timeout=60)
        pod_name = f"{meta['name']}-pod"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "namespace": NAMESPACE,
                "labels": {**template["metadata"]["labels"], "job-name": meta["name"]},
                "annotations": template["metadata"]["annotations"],
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": template["spec"],
        }
        self.api.create("pods", pod, NAMESPACE)
        started = now_rfc3339()
        self._container(pod_name, "Running", {"running": {"startedAt": started}})
        if self.hang:
            return
        threading.Event().wait(JOB_SECONDS)  # the job's own run time
        result = JobResult(instance_id=instance_id, attempt=attempt, conclusion="success")
        terminated = {
            "exitCode": 0,
            "reason": "Completed",
            "message": encode_termination_message(result),
            "startedAt": started,
            "finishedAt": now_rfc3339(),
        }
        self._container(pod_name, "Succeeded", {"terminated": terminated})
        threading.Event().wait(JOB_CONTROLLER_SECONDS)  # the Job controller reacts later
        condition = {
            "type": "Complete",
            "status": "True",
            "reason": "Completed",
            "lastTransitionTime": now_rfc3339(),
        }
        self.api.patch_status(
            "jobs.batch",
            meta["name"],
            {"succeeded": 1, "conditions": [condition], "completionTime": now_rfc3339()},
            NAMESPACE,
        )

    def _container(self, pod: str, phase: str, state: dict[str, Any]) -> None:
        status = {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": "runner",
                    "ready": phase == "Running",
                    "restartCount": 0,
                    "image": "cairn:dev",
                    "imageID": "",
                    "state": state,
                }
            ],
        }
        self.api.patch_status("pods", pod, status, NAMESPACE)


# --- the operator process -----------------------------------------------------------------


def start_operator() -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CAIRN_CALLBACK_BASE_URL": "",
        "CAIRN_NAMESPACES": NAMESPACE,
        "CAIRN_LIVENESS_ENDPOINT": "",
        "PYTHONPATH": str(ROOT / "operator"),
    }
    log = open(os.environ.get("OPERATOR_BENCH_LOG", os.devnull), "ab")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, *PROFILE, "-m", "cairn.cli", "operator", "--standalone", "-n", NAMESPACE],
        env=env,
        stdout=log,
        stderr=log,
    )


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_watches(api: KubeApiEmulator) -> None:
    for resource in (CIRUNS, CIWORKFLOWS, "jobs.batch", "pods"):
        api.wait_for_watches(resource, timeout=60)


def cirun(name: str, content: str) -> dict[str, Any]:
    return {
        "apiVersion": "cairn.dev/v1alpha1",
        "kind": "CIRun",
        "metadata": {"name": name},
        "spec": {
            "workflows": [{"name": "ci.yml", "content": content}],
            "event": {"name": "push", "payload": {"ref": "refs/heads/main"}},
        },
    }


def chain_workflow(length: int) -> str:
    lines = ["name: Chain", "on: push", "jobs:"]
    for n in range(length):
        lines += [f"  j{n}:", "    runs-on: ubuntu-latest"]
        if n:
            lines.append(f"    needs: j{n - 1}")
        lines += ["    steps:", "      - run: echo step"]
    return "\n".join(lines) + "\n"


def wide_workflow(total: int) -> str:
    """``total`` instances: matrices of 250 chained by needs, then single jobs."""
    lines = ["name: Wide", "on: push", "jobs:"]
    previous, made, n = None, 0, 0
    while made < total:
        width = min(250, total - made)
        lines += [f"  stage{n}:", "    runs-on: ubuntu-latest"]
        if previous:
            lines.append(f"    needs: {previous}")
        if width > 1:
            values = ", ".join(str(v) for v in range(width))
            lines += ["    strategy:", "      matrix:", f"        shard: [{values}]"]
        lines += ["    steps:", "      - run: ./test.sh ${{ matrix.shard }}"]
        previous, made, n = f"stage{n}", made + width, n + 1
    return "\n".join(lines) + "\n"


def wait_run(api: KubeApiEmulator, name: str, timeout: float) -> dict[str, Any]:
    found = api.wait_for(
        CIRUNS,
        name,
        NAMESPACE,
        predicate=lambda o: o is not None and (o.get("status") or {}).get("phase") in TERMINAL,
        timeout=timeout,
    )
    assert found is not None
    return found


@dataclass(frozen=True)
class RoundTrips:
    """Median seconds to create a ConfigMap, and a sandbox Job, with the operator's
    client: back to back, and paced at the chain's rhythm."""

    bare: float
    configmap: float
    configmap_paced: float
    job: float
    job_paced: float


#: the paced baselines send one request every this many seconds: the chain's
#: rhythm (a job "runs" JOB_SECONDS, then the next one is dispatched)
PACE_SECONDS = JOB_SECONDS


def round_trips(api: KubeApiEmulator, samples: int = 50) -> RoundTrips:
    """Back to back, the client, the emulator and the CPUs stay hot; a request
    made after an idle pause, as each dispatch of the chain is, also pays for
    waking them (on a virtual machine, a halted vCPU; on any machine, cold
    caches), often several times the hot figure. Both are measured and printed;
    the dispatch is compared with each."""
    import asyncio

    import aiohttp

    from cairn.k8s.cluster import Cluster

    jobs = _rendered_jobs(2 * samples)

    async def bare() -> list[float]:
        times = []
        headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
        async with aiohttp.ClientSession() as session:
            for n in range(samples):
                body = {"metadata": {"name": f"rtt-bare-{n}"}, "data": {"k": "v"}}
                started = time.perf_counter()
                async with session.post(
                    f"{api.url}/api/v1/namespaces/{QUIET}/configmaps",
                    data=json.dumps(body),
                    headers=headers,
                ) as response:
                    await response.read()
                    assert response.status == 201
                times.append(time.perf_counter() - started)
        return times

    async def client(plural: str, bodies: list[dict[str, Any]], pace: float) -> list[float]:
        cluster = Cluster.connect()
        times = []
        try:
            for body in bodies:
                started = time.perf_counter()
                await cluster.create(plural, QUIET, body)
                times.append(time.perf_counter() - started)
                if pace:
                    await asyncio.sleep(pace)  # the idle pause between two dispatches
        finally:
            await cluster.close()
        return times

    def configmaps(prefix: str) -> list[dict[str, Any]]:
        return [{"metadata": {"name": f"{prefix}-{n}"}, "data": {"k": "v"}} for n in range(samples)]

    def median(times: list[float]) -> float:
        return statistics.median(times[samples // 5 :])  # warm-up first

    return RoundTrips(
        bare=median(asyncio.run(bare())),
        configmap=median(asyncio.run(client("configmaps", configmaps("rtt"), 0))),
        configmap_paced=median(
            asyncio.run(client("configmaps", configmaps("rtt-paced"), PACE_SECONDS))
        ),
        job=median(asyncio.run(client("jobs", jobs[:samples], 0))),
        job_paced=median(asyncio.run(client("jobs", jobs[samples:], PACE_SECONDS))),
    )


def _rendered_jobs(count: int) -> list[dict[str, Any]]:
    """Sandbox Jobs as the operator renders them, for a namespace nobody watches."""
    from cairn.engine.testing import EngineHarness, make_run
    from cairn.k8s.runnerclass import select_for_job
    from cairn.k8s.sandbox import WorkflowIdentity, render_sandbox
    from cairn.k8s.settings import OperatorSettings

    harness = EngineHarness(make_run(chain_workflow(2)))
    settings = OperatorSettings(callback_base_url=None)
    runner_class = select_for_job(harness.spec("j0"), [], settings=settings)
    identity = WorkflowIdentity(QUIET, "run", "wf", "uid")
    jobs = []
    for n in range(count):
        spec = harness.spec("j0").model_copy(update={"instance_id": f"j{n}"})
        jobs.append(render_sandbox(spec, runner_class, identity, settings).job)
    return jobs


KOPF_FLOOR_OPERATOR = """
import json, logging, os
import kopf
from cairn.k8s.cluster import Cluster

JOB = json.loads(open(os.environ["FLOOR_JOB"]).read())

@kopf.on.startup()
async def start(settings, memo, **_):
    settings.posting.level = logging.WARNING
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    memo.cluster = Cluster.connect()

@kopf.on.event("", "v1", "pods")
async def pod(body, namespace, memo, **_):
    for status in (body.get("status") or {}).get("containerStatuses") or []:
        if "terminated" in status.get("state", {}):
            job = dict(JOB, metadata={"name": body["metadata"]["name"] + "-next"})
            await memo.cluster.create("jobs", namespace, job)
"""


def kopf_floor(api: KubeApiEmulator, samples: int = 40) -> float:
    """What any Kopf operator pays for this dispatch: a bare one (another process,
    one ``on.event`` handler, the same API client) that creates a sandbox Job when
    a pod terminates. Median seconds from the pod's termination to the Job, both
    at the emulator's commit, one pod every ``PACE_SECONDS`` like the chain."""
    directory = Path(tempfile.mkdtemp(prefix="cairn-kopf-floor-"))
    (directory / "floor.py").write_text(KOPF_FLOOR_OPERATOR)
    (directory / "job.json").write_text(json.dumps(_rendered_jobs(1)[0]))
    env = {
        **os.environ,
        "FLOOR_JOB": str(directory / "job.json"),
        "PYTHONPATH": str(ROOT / "operator"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "kopf", "run", "--standalone", "-n", QUIET, "floor.py"],
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with CommitClock(api) as clock:
        try:
            api.wait_for_watches("pods", timeout=60)
            for n in range(samples):
                name = f"floor-{n}"
                pod = {
                    "metadata": {"name": name, "labels": {"job-name": name}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                }
                api.create("pods", pod, QUIET)
                status = {
                    "phase": "Succeeded",
                    "containerStatuses": [
                        {
                            "name": "c",
                            "ready": False,
                            "restartCount": 0,
                            "image": "x",
                            "imageID": "",
                            "state": {"terminated": {"exitCode": 0}},
                        }
                    ],
                }
                api.patch_status("pods", name, status, QUIET)
                api.wait_for("jobs.batch", f"{name}-next", QUIET, timeout=10)
                threading.Event().wait(PACE_SECONDS)  # the chain's rhythm
        finally:
            process.terminate()
            process.wait(timeout=30)
    delays = [clock.job_created[f"{name}-next"] - at for name, at in clock.pod_terminated.items()]
    return statistics.median(delays[samples // 5 :])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def operator_requests(api: KubeApiEmulator) -> int:
    return api.request_count()


# --- the measurements ---------------------------------------------------------------------


class CommitClock:
    """When the emulator committed each Job's creation and each pod's termination
    (by Job name), read from the store's commit hook."""

    def __init__(self, api: KubeApiEmulator) -> None:
        self.api = api
        self.jobs = api.resource("jobs.batch").storage
        self.pods = api.resource("pods").storage
        self.job_created: dict[str, float] = {}
        self.pod_terminated: dict[str, float] = {}

    def __enter__(self) -> CommitClock:
        self.api.store.on_commit = self._on_commit
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.store.on_commit = None

    def _on_commit(self, change: Any) -> None:
        at = time.perf_counter()
        if change.storage == self.jobs and change.type == "ADDED":
            self.job_created[change.name] = at
        elif change.storage == self.pods and change.type == "MODIFIED":
            job = change.obj["metadata"].get("labels", {}).get("job-name")
            if job and job not in self.pod_terminated and _terminated(change.obj):
                self.pod_terminated[job] = at


def _terminated(pod: dict[str, Any]) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any("terminated" in (s.get("state") or {}) for s in statuses)


def measure_chain(api: KubeApiEmulator, length: int, rtt: RoundTrips, floor: float) -> None:
    with InstantKubelet(api) as kubelet, CommitClock(api) as clock:
        api.reset_request_counts()
        api.create(CIRUNS, cirun("chain", chain_workflow(length)), NAMESPACE)
        run = wait_run(api, "chain", timeout=300)
        requests = operator_requests(api)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    names = {}
    for name in kubelet.created:
        job = api.get("jobs.batch", name, NAMESPACE)
        names[
            job["spec"]["template"]["metadata"]["annotations"][resources.ANNOTATION_INSTANCE_ID]
        ] = name
    latencies = []
    for n in range(1, length):
        before, after = names[f"j{n - 1}"], names[f"j{n}"]
        latencies.append(clock.job_created[after] - clock.pod_terminated[before])
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    if os.environ.get("OPERATOR_BENCH_VERBOSE"):
        print("    latencies (ms):", " ".join(f"{v * 1000:.1f}" for v in latencies))
    hot, paced = rtt.configmap, rtt.configmap_paced
    print(
        f"(a) dispatch latency over a {length}-job chain (completion written -> next Job created)"
    )
    print(
        f"    API round trip, create a ConfigMap with the operator's client: back to back "
        f"{hot * 1000:.2f} ms (bare aiohttp {rtt.bare * 1000:.2f} ms); one every "
        f"{PACE_SECONDS * 1000:.0f} ms, the chain's rhythm: {paced * 1000:.2f} ms"
    )
    print(
        f"    p50 {p50 * 1000:7.2f} ms = {p50 / hot:5.1f}x back to back, {p50 / paced:4.1f}x at "
        f"the chain's rhythm   (target <= 5x)"
    )
    print(
        f"    p99 {p99 * 1000:7.2f} ms = {p99 / hot:5.1f}x back to back, {p99 / paced:4.1f}x at "
        f"the chain's rhythm"
    )
    print(
        f"    a bare Kopf operator creating a Job when a pod terminates (same client, same "
        f"rhythm): p50 {floor * 1000:.2f} ms; Cairn = {p50 / floor:.2f}x that, "
        f"{(p50 - floor) * 1000:.2f} ms its own (a Job create alone: {rtt.job_paced * 1000:.2f}"
        f" ms at the chain's rhythm, {rtt.job * 1000:.2f} ms back to back)"
    )
    print(
        f"(b) API requests per job instance: {requests} requests / {length} jobs = "
        f"{requests / length:.2f}   (target <= 4)"
    )


def measure_size(api: KubeApiEmulator, total: int) -> None:
    with InstantKubelet(api):
        api.create(CIRUNS, cirun("wide", wide_workflow(total)), NAMESPACE)
        started = time.perf_counter()
        run = wait_run(api, "wide", timeout=900)
        took = time.perf_counter() - started
    assert run["status"]["phase"] == "Succeeded", run["status"].get("message")
    (workflow,) = api.list(CIWORKFLOWS, NAMESPACE, label_selector="cairn.dev/run=wide")
    size = len(json.dumps(workflow, separators=(",", ":")).encode())
    spec = len(json.dumps(workflow["spec"], separators=(",", ":")).encode())
    state = len(json.dumps(workflow["status"]["state"], separators=(",", ":")).encode())
    print(f"(c) CIWorkflow of a {total}-job workflow, finished ({took:.1f} s through the operator)")
    print(
        f"    {size / 1024:7.1f} KiB = {size / BUDGET_BYTES:.2f} of the 512 KiB budget"
        f"   (spec {spec / 1024:.1f} KiB, checkpoint {state / 1024:.1f} KiB)"
    )


def measure_memory(api: KubeApiEmulator, idle: int) -> None:
    operator = start_operator()
    try:
        wait_watches(api)
        baseline = rss_kib(operator.pid)
        loaded = _load_idle(api, operator, idle)
    finally:
        operator.terminate()
        operator.wait(timeout=30)
    print(f"(d) operator memory with {idle} idle CIWorkflows (each with a running job)")
    print(
        f"    RSS {loaded / 1024:.1f} MiB vs {baseline / 1024:.1f} MiB with none: "
        f"{loaded / baseline:.2f}x, {(loaded - baseline) / idle:.1f} KiB per workflow"
    )


def _load_idle(api: KubeApiEmulator, operator: subprocess.Popen[bytes], idle: int) -> int:
    since = api.store.resource_version
    with InstantKubelet(api, hang=True):
        for n in range(idle):
            api.create(CIRUNS, cirun(f"idle-{n}", chain_workflow(2)), NAMESPACE)
        running: set[str] = set()
        # follow the CIWorkflows' changes until every first job runs (no relisting)
        for change in api.changes_sync(CIWORKFLOWS, NAMESPACE, since=since, timeout=600):
            jobs = ((change.object.get("status") or {}).get("state") or {}).get("j") or {}
            if jobs.get("j0", {}).get("p") == "running":
                running.add(change.object["metadata"]["name"])
                if len(running) == idle:
                    break
        return rss_kib(operator.pid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", type=int, default=50)
    parser.add_argument("--wide", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=500)
    args = parser.parse_args()
    with KubeApiEmulator(request_log_size=100) as api:
        api.write_kubeconfig(_KUBECONFIG)
        for crd in ("cirun.yaml", "ciworkflow.yaml", "runnerclass.yaml"):
            api.register_crd(ROOT / "crds" / crd)
        api.create("namespaces", {"metadata": {"name": NAMESPACE}})
        api.create("namespaces", {"metadata": {"name": QUIET}})
        rtt = round_trips(api)
        floor = kopf_floor(api)
        operator = start_operator()
        try:
            wait_watches(api)
            measure_chain(api, args.chain, rtt, floor)
            measure_size(api, args.wide)
        finally:
            operator.terminate()
            operator.wait(timeout=30)
        api.drop_watches()
        measure_memory(api, args.idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
