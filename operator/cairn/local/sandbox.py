"""One attempt of one job on this machine: the local stand-in for a job's pod.

Each attempt gets a fresh, empty workspace directory, as a GitHub-hosted job
gets a fresh machine: the repository is there only once ``actions/checkout``
has run, and then it is a real checkout of the run's commit, fetched from the
local repository. So jobs never see each other's files, nor the uncommitted
changes of the working tree. A successful attempt's workspace is removed when
it ends; the workspace of a failed or cancelled one is kept for inspection.
"""

from __future__ import annotations

import asyncio
import shutil
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cairn.engine.jobspec import Annotation, JobResult, JobSpec
from cairn.local.runs_on import platform_problem
from cairn.local.store import ResultRecord, RunDir
from cairn.local.temps import TempPool
from cairn.runner.checkout import CheckoutSource
from cairn.runner.clock import Clock
from cairn.runner.errors import RunnerSetupError
from cairn.runner.guard import OrphanGuard
from cairn.runner.job import run_job
from cairn.runner.logsink import FileSink, LogRecord, LogSink
from cairn.runner.settings import RunnerSettings


@dataclass(frozen=True)
class Sandbox:
    run_dir: RunDir
    #: the last part of every workspace path, as on GitHub (``.../<repo>/<repo>``)
    repo_name: str
    checkout: CheckoutSource | None
    secrets: Mapping[str, str]
    settings: RunnerSettings
    clock: Clock
    #: what steps inherit; None: this process's environment
    base_env: Mapping[str, str] | None = None
    #: ends the steps' processes if this process is killed
    guard: OrphanGuard | None = None
    #: ``RUNNER_TEMP`` directories shared by the run's jobs, one at a time;
    #: None: each job's runner makes (and removes) its own
    temps: TempPool | None = None

    def log_path(self, key: str, spec: JobSpec) -> Path:
        return self.run_dir.log_path(key, spec.instance_id, spec.attempt)

    def open_log(self, key: str, spec: JobSpec) -> FileSink:
        """The attempt's log file (the caller tees it with what people see)."""
        return FileSink(self.log_path(key, spec))

    async def run(
        self, key: str, spec: JobSpec, *, cancel: asyncio.Event, log: LogSink
    ) -> ResultRecord:
        """Run the attempt and record its result beside the checkpoint.
        Whatever goes wrong becomes a failed result; only the caller's own
        cancellation (a hard stop) propagates."""
        workspace = self.run_dir.workspace_path(key, spec.instance_id, self.repo_name)
        if workspace.parent.exists():
            # a new attempt starts from nothing, like a fresh runner
            shutil.rmtree(workspace.parent, ignore_errors=True)
        secrets = {name: self.secrets[name] for name in spec.secret_names if name in self.secrets}
        problem = platform_problem(spec.runs_on)
        try:
            if problem is not None:
                raise RunnerSetupError(problem)
            with self._temp() as temp:
                result = await run_job(
                    spec,
                    workspace=workspace,
                    secrets=secrets,
                    checkout=self.checkout,
                    log=log,
                    cancel=cancel,
                    settings=self.settings,
                    clock=self.clock,
                    base_env=self.base_env,
                    temp_dir=temp,
                    guard=self.guard,
                )
        except RunnerSetupError as exc:
            result = self._failed(spec, str(exc), log)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # a bug in the runner: the job fails, and the traceback is in its log
            for line in traceback.format_exc().rstrip().split("\n"):
                log.write(LogRecord(time=self.clock.now(), kind="info", text=line))
            result = self._failed(spec, f"runner error: {type(exc).__name__}: {exc}", log)
        log_path = self.log_path(key, spec)
        record = ResultRecord(workflow=key, name=spec.name, log=str(log_path), result=result)
        self.run_dir.write_result(record)
        if result.conclusion == "success":
            shutil.rmtree(workspace.parent, ignore_errors=True)
        return record

    @contextmanager
    def _temp(self) -> Iterator[Path | None]:
        if self.temps is None:
            yield None
        else:
            with self.temps.lease() as path:
                yield path

    def _failed(self, spec: JobSpec, reason: str, log: LogSink) -> JobResult:
        now = self.clock.now()
        annotation = Annotation(level="error", message=reason)
        log.write(LogRecord(time=now, kind="error", text=reason, annotation=annotation))
        return JobResult(
            instance_id=spec.instance_id,
            attempt=spec.attempt,
            conclusion="failure",
            reason=reason,
            started_at=now,
            completed_at=now,
        )
