"""A test kubelet (and Job controller) for the API emulator.

It plays the cluster's part for Cairn's sandbox Jobs, in its own thread and
event loop, through the emulator's in-process API (so its requests are not
counted as the operator's):

- for each new Job carrying Cairn's labels it creates the Job's Pod (labels,
  ownerReference, and a finalizer of its own so that deleting the pod is
  graceful, as on a real node), marks the Job active, waits for the spec
  ConfigMap the pod mounts, and reports the runner container Running;
- it runs the pod's command: the real ``cairn runner`` with the ConfigMap's
  spec written to a temporary file, the mounted Secret volumes (``secrets``,
  and ``callback`` when the operator set up a callback) written into the
  pod's directory, the result written where the termination message would
  be. ``mode="subprocess"`` (the default) runs ``python -m cairn.cli runner``
  as a process of its own, like the container would, with the runner
  container's env (``value`` and ``secretKeyRef``; a path under one of the
  container's mounts is moved into the pod's directory), so a sandbox's
  result that does not fit in the termination message reaches the operator
  by the runner's real callback; ``mode="inprocess"`` awaits the same runner
  (``cairn.runner.run_job``) inside the kubelet, for scale tests where an
  interpreter start per job would dominate (no env, so no callback);
- it writes back what a node and the Job controller would: the pod's
  ``state.terminated`` with the termination message, then the Job's
  ``succeeded``/``failed`` counts and ``Complete``/``Failed`` condition;
- a pod being deleted (a cancelled or deleted Job) gets SIGTERM (the
  runner's cancellation), its final state is written, then it goes.

Knobs per job instance id (``build`` or ``build.3``): ``hang`` (the pod runs
but never reports), ``delete_job`` (the kubelet deletes the Job once its pod
runs, as a person would), ``never_start`` (the pod stays Pending).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cairn.engine.jobspec import JobResult, JobSpec
from cairn.k8s import resources
from cairn.k8s.sandbox import RUNNER_CONTAINER, SPEC_KEY
from cairn.runner import MemorySink, encode_termination_message, run_job
from tests.kubeapi import KubeApiEmulator
from tests.kubeapi.errors import NotFound

FINALIZER = "kubelet.test.cairn.dev/graceful"
Mode = Literal["subprocess", "inprocess"]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PodRun:
    """One pod the kubelet runs."""

    job: str
    pod: str
    instance_id: str
    attempt: int
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    result: str | None = None
    exit_code: int | None = None


class TestKubelet:
    __test__ = False  # not a test class, despite its name

    def __init__(
        self,
        api: KubeApiEmulator,
        namespace: str = "default",
        *,
        mode: Mode = "subprocess",
        max_parallel: int = 4,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.mode = mode
        self.max_parallel = max_parallel
        self.hang: set[str] = set()
        self.delete_job: set[str] = set()
        self.never_start: set[str] = set()
        #: every Job the kubelet saw created, in order
        self.jobs_seen: list[str] = []
        #: results written, by Job name (the termination message text)
        self.results: dict[str, str] = {}
        self.errors: list[str] = []
        self._runs: dict[str, PodRun] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ready = threading.Event()
        self._workdir = Path(tempfile.mkdtemp(prefix="cairn-kubelet-"))
        self._slots: asyncio.Semaphore | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> TestKubelet:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="test-kubelet", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        loop = self._loop
        if loop is not None and self._thread is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=10)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _serve(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        loop.call_soon(self._begin)
        loop.run_forever()
        loop.close()

    def _begin(self) -> None:
        self._slots = asyncio.Semaphore(self.max_parallel)
        self._spawn(self._watch_jobs())
        self._spawn(self._watch_pods())
        self._ready.set()

    async def _shutdown(self) -> None:
        for run in self._runs.values():
            run.stop.set()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self.errors.append(f"{type(error).__name__}: {error}")

    # --- watching --------------------------------------------------------------------------

    async def _watch_jobs(self) -> None:
        selector = f"{resources.LABEL_MANAGED_BY}={resources.MANAGED_BY}"
        async for change in self.api.changes("jobs.batch", self.namespace, label_selector=selector):
            name = change.object["metadata"]["name"]
            if change.type == "ADDED" and name not in self._runs and name not in self.jobs_seen:
                self.jobs_seen.append(name)
                self._spawn(self._run_job(change.object))

    async def _watch_pods(self) -> None:
        selector = f"{resources.LABEL_MANAGED_BY}={resources.MANAGED_BY}"
        async for change in self.api.changes("pods", self.namespace, label_selector=selector):
            meta = change.object["metadata"]
            run = self._runs.get(meta.get("labels", {}).get("job-name", ""))
            if run is not None and (change.type == "DELETED" or meta.get("deletionTimestamp")):
                run.stop.set()

    # --- one pod ---------------------------------------------------------------------------

    async def _run_job(self, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        name = meta["name"]
        template = job["spec"]["template"]
        instance_id = template["metadata"]["annotations"][resources.ANNOTATION_INSTANCE_ID]
        attempt = int(meta["labels"][resources.LABEL_ATTEMPT])
        suffix = hashlib.sha256(meta["uid"].encode()).hexdigest()[:5]
        run = PodRun(job=name, pod=f"{name}-{suffix}", instance_id=instance_id, attempt=attempt)
        self._runs[name] = run
        self._create_pod(job, run)
        self._patch_job(name, {"active": 1, "startTime": _now()})
        if instance_id in self.never_start:
            await run.stop.wait()
            self._release_pod(run)
            return
        spec_text = await self._spec_of(template, run)
        if spec_text is None:  # deleted before its ConfigMap came
            self._release_pod(run)
            return
        started = _now()
        self._patch_pod(run, {"phase": "Running", "startTime": started, **_running(started)})
        if instance_id in self.delete_job:
            self.api.delete("jobs.batch", name, self.namespace, propagation="Background")
        if instance_id in self.hang:
            await run.stop.wait()
            run.exit_code = 137
        else:
            assert self._slots is not None
            async with self._slots:
                await self._execute(template, spec_text, run)
        self._finish(run, started)

    def _create_pod(self, job: dict[str, Any], run: PodRun) -> None:
        meta = job["metadata"]
        template = job["spec"]["template"]
        labels = {
            **template["metadata"].get("labels", {}),
            "job-name": meta["name"],
            "batch.kubernetes.io/job-name": meta["name"],
            "controller-uid": meta["uid"],
            "batch.kubernetes.io/controller-uid": meta["uid"],
        }
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": run.pod,
                "namespace": self.namespace,
                "labels": labels,
                "annotations": dict(template["metadata"].get("annotations", {})),
                "finalizers": [FINALIZER],
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": template["spec"],
        }
        self.api.create("pods", pod, self.namespace)

    async def _spec_of(self, template: dict[str, Any], run: PodRun) -> str | None:
        """The spec ConfigMap's text once it and every required Secret volume
        exist (a node keeps the pod in ContainerCreating until then); None if
        the pod is deleted first."""
        volumes = template["spec"].get("volumes", [])
        config_map = next(v for v in volumes if v["name"] == "spec")["configMap"]["name"]
        secrets = [
            v["secret"]["secretName"]
            for v in volumes
            if "secret" in v and not v["secret"].get("optional")
        ]
        waiting = asyncio.ensure_future(self._all_exist(config_map, secrets))
        stopped = asyncio.ensure_future(run.stop.wait())
        done, _ = await asyncio.wait({waiting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiting, stopped):
            if task not in done:
                task.cancel()
        if waiting not in done:
            return None
        return waiting.result()

    async def _all_exist(self, config_map: str, secrets: list[str]) -> str:
        for name in secrets:
            found = await self.api.wait_for_async("secrets", name, self.namespace, timeout=60)
            assert found is not None
        spec = await self.api.wait_for_async("configmaps", config_map, self.namespace, timeout=60)
        assert spec is not None
        text: str = spec["data"][SPEC_KEY]
        return text

    def _secret_data(self, name: str) -> dict[str, str]:
        secret = self.api.find("secrets", name, self.namespace) or {}
        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}

    def _volume_files(self, template: dict[str, Any], volume_name: str) -> dict[str, str]:
        """The files a Secret volume shows: its items (path -> text), or every key."""
        volume = next((v for v in template["spec"]["volumes"] if v["name"] == volume_name), None)
        source = (volume or {}).get("secret")
        if source is None:
            return {}
        data = self._secret_data(source["secretName"])
        if "items" not in source:
            return data
        return {item["path"]: data[item["key"]] for item in source["items"] if item["key"] in data}

    def _runner_env(self, template: dict[str, Any], mounts: dict[str, Path]) -> dict[str, str]:
        """The runner container's env as a node would give it, with paths under
        the container's mounts moved to where the kubelet keeps those volumes."""
        (runner,) = [c for c in template["spec"]["containers"] if c["name"] == RUNNER_CONTAINER]
        by_volume = {m["name"]: m["mountPath"] for m in runner.get("volumeMounts", [])}
        moves = [(by_volume[v], str(p)) for v, p in mounts.items() if v in by_volume]
        env: dict[str, str] = {}
        for item in runner.get("env", []):
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            if ref is not None:
                value = self._secret_data(ref["name"]).get(ref["key"])
                if value is None and not ref.get("optional"):
                    raise RuntimeError(f"env {item['name']}: secret key {ref['key']} missing")
                if value is not None:
                    env[item["name"]] = value
                continue
            value = str(item.get("value", ""))
            for mount_path, local in moves:
                if value == mount_path or value.startswith(mount_path + "/"):
                    value = local + value[len(mount_path) :]
                    break
            env[item["name"]] = value
        return env

    async def _execute(self, template: dict[str, Any], spec_text: str, run: PodRun) -> None:
        directory = self._workdir / run.pod
        mounts = {
            "workspace": directory / "ws",
            "secrets": directory / "secrets",
            "home": directory / "home",
            "callback": directory / "callback",
        }
        for path in mounts.values():
            path.mkdir(parents=True, exist_ok=True)
        secrets = self._volume_files(template, "secrets")
        for volume in ("secrets", "callback"):
            for key, value in self._volume_files(template, volume).items():
                (mounts[volume] / key).write_text(value)
        workspace, secrets_dir = mounts["workspace"], mounts["secrets"]
        if self.mode == "inprocess":
            await self._execute_inprocess(spec_text, run, workspace, secrets)
            return
        spec_file, result_file = directory / "spec.json", directory / "termination-log"
        spec_file.write_text(spec_text)
        env = {**os.environ, **self._runner_env(template, mounts)}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cairn.cli",
            "runner",
            "--spec",
            str(spec_file),
            "--result",
            str(result_file),
            "--secrets-dir",
            str(secrets_dir),
            "--workspace",
            str(workspace),
            cwd=workspace,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        waiting = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(run.stop.wait())
        done, _ = await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if waiting not in done:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            await waiting
        stopping.cancel()
        run.exit_code = process.returncode
        if result_file.exists():
            run.result = result_file.read_text()

    async def _execute_inprocess(
        self, spec_text: str, run: PodRun, workspace: Path, secrets: dict[str, str]
    ) -> None:
        spec = JobSpec.model_validate_json(spec_text)
        cancel = asyncio.Event()
        forward = asyncio.ensure_future(_forward(run.stop, cancel))
        try:
            result: JobResult = await run_job(
                spec,
                workspace=workspace,
                secrets=secrets,
                checkout=None,
                log=MemorySink(),
                cancel=cancel,
                temp_dir=workspace.parent / "tmp",
            )
        finally:
            forward.cancel()
        run.result = encode_termination_message(result)
        run.exit_code = 0 if result.conclusion == "success" else 1

    # --- writing back ------------------------------------------------------------------------

    def _finish(self, run: PodRun, started: str) -> None:
        finished = _now()
        code = run.exit_code if run.exit_code is not None else 137
        terminated: dict[str, Any] = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": started,
            "finishedAt": finished,
        }
        if run.result:
            terminated["message"] = run.result
            self.results[run.job] = run.result
        self._patch_pod(
            run,
            {
                "phase": "Succeeded" if code == 0 else "Failed",
                "containerStatuses": [
                    {
                        "name": RUNNER_CONTAINER,
                        "ready": False,
                        "restartCount": 0,
                        "image": "cairn:dev",
                        "imageID": "",
                        "state": {"terminated": terminated},
                    }
                ],
            },
        )
        if not run.stop.is_set():
            kind = "Complete" if code == 0 else "Failed"
            condition = {
                "type": kind,
                "status": "True",
                "reason": "Completed" if code == 0 else "BackoffLimitExceeded",
                "message": "" if code == 0 else "Job has reached the specified backoff limit",
                "lastProbeTime": finished,
                "lastTransitionTime": finished,
            }
            counts = {"succeeded": 1} if code == 0 else {"failed": 1}
            self._patch_job(
                run.job,
                {**counts, "active": 0, "conditions": [condition], "completionTime": finished},
            )
        self._release_pod(run)

    def _release_pod(self, run: PodRun) -> None:
        """Drop the kubelet's finalizer once the pod is being deleted; else keep it."""
        pod = self.api.find("pods", run.pod, self.namespace)
        if pod is None:
            return
        if pod["metadata"].get("deletionTimestamp") or run.stop.is_set():
            finalizers = [f for f in pod["metadata"].get("finalizers", []) if f != FINALIZER]
            with contextlib.suppress(NotFound):
                self.api.patch(
                    "pods", run.pod, {"metadata": {"finalizers": finalizers}}, self.namespace
                )
        else:
            self._spawn(self._release_when_deleted(run))

    async def _release_when_deleted(self, run: PodRun) -> None:
        await run.stop.wait()
        self._release_pod(run)

    def _patch_pod(self, run: PodRun, status: dict[str, Any]) -> None:
        with contextlib.suppress(NotFound):  # deleted meanwhile: nobody to report to
            self.api.patch_status("pods", run.pod, status, self.namespace)

    def _patch_job(self, name: str, status: dict[str, Any]) -> None:
        with contextlib.suppress(NotFound):
            self.api.patch_status("jobs.batch", name, status, self.namespace)

    # --- for tests -------------------------------------------------------------------------

    def runs_of(self, instance_ids: Iterable[str]) -> list[str]:
        wanted = set(instance_ids)
        return [name for name, run in self._runs.items() if run.instance_id in wanted]


def _running(started: str) -> dict[str, Any]:
    return {
        "containerStatuses": [
            {
                "name": RUNNER_CONTAINER,
                "ready": True,
                "restartCount": 0,
                "image": "cairn:dev",
                "imageID": "",
                "state": {"running": {"startedAt": started}},
            }
        ]
    }


async def _forward(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()
