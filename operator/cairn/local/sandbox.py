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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cairn.engine.jobspec import JobResult, JobSpec
from cairn.local.store import ResultRecord, RunDir
from cairn.runner.checkout import CheckoutSource
from cairn.runner.clock import Clock
from cairn.runner.errors import RunnerSetupError
from cairn.runner.job import run_job
from cairn.runner.logsink import FileSink, LogSink, TeeSink
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

    def log_path(self, key: str, spec: JobSpec) -> Path:
        return self.run_dir.log_path(key, spec.instance_id, spec.attempt)

    async def run(
        self, key: str, spec: JobSpec, *, cancel: asyncio.Event, sink: LogSink
    ) -> ResultRecord:
        """Run the attempt and record its result beside the checkpoint.
        Whatever goes wrong becomes a failed result; only the caller's own
        cancellation (a hard stop) propagates."""
        workspace = self.run_dir.workspace_path(key, spec.instance_id, self.repo_name)
        log_path = self.log_path(key, spec)
        if workspace.parent.exists():
            # a new attempt starts from nothing, like a fresh runner
            shutil.rmtree(workspace.parent, ignore_errors=True)
        log_file = FileSink(log_path)
        secrets = {name: self.secrets[name] for name in spec.secret_names if name in self.secrets}
        try:
            result = await run_job(
                spec,
                workspace=workspace,
                secrets=secrets,
                checkout=self.checkout,
                log=TeeSink(log_file, sink),
                cancel=cancel,
                settings=self.settings,
                clock=self.clock,
                base_env=self.base_env,
            )
        except RunnerSetupError as exc:
            result = self._failed(spec, str(exc))
        except asyncio.CancelledError:
            log_file.close()
            raise
        except Exception as exc:
            # a bug in the runner: the job fails, and the traceback is in its log
            with log_path.open("a", encoding="utf-8") as handle:
                handle.write(traceback.format_exc())
            result = self._failed(spec, f"runner error: {type(exc).__name__}: {exc}")
        log_file.close()
        record = ResultRecord(workflow=key, name=spec.name, log=str(log_path), result=result)
        self.run_dir.write_result(record)
        if result.conclusion == "success":
            shutil.rmtree(workspace.parent, ignore_errors=True)
        return record

    def _failed(self, spec: JobSpec, reason: str) -> JobResult:
        now = self.clock.now()
        return JobResult(
            instance_id=spec.instance_id,
            attempt=spec.attempt,
            conclusion="failure",
            reason=reason,
            started_at=now,
            completed_at=now,
        )
