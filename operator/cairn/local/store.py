"""The run's directory: the local stand-in for the cluster's custom resources.

::

    <state-dir>/<run-id>/
      run.json        what never changes: the compiled plans, contexts, inputs
                      (the CIWorkflow specs); written once
      state.json      the engine's checkpoint of every workflow (the statuses);
                      rewritten atomically after each engine wake
      lock            held (flock) by the process executing the run
      results.jsonl   what each attempt reported, one JSON line per attempt,
                      appended as attempts end
      logs/<workflow>/<instance>@<attempt>.log        each attempt's log
      workspaces/<workflow>/<instance>/<repo>/       each job's workspace

Atomic means: write a temporary file beside the target, fsync it, rename it
over the target (and fsync the directory), so a crash at any instant leaves
either the old or the new checkpoint, never a torn one. Results are appended
to one journal without fsync: they only have to survive the process dying,
which a completed write does, and a line torn by a crash is ignored (that
attempt counts as lost and runs again). One journal rather than a file per
attempt because creating files is what costs most per job (``docs/local.md``).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cairn.engine.errors import CheckpointError
from cairn.engine.jobspec import JobResult
from cairn.engine.run import WorkflowRun
from cairn.engine.state import WorkflowState
from cairn.local.errors import RunLockedError, RunNotFoundError, RunStoreError

MANIFEST_VERSION = 1
CHECKPOINT_VERSION = 1
_RUN_ID = re.compile(r"^[0-9]+$")
#: what the state directory's .gitignore says, so a run never dirties the repository
GITIGNORE = "# written by cairn run\n*\n"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WorkflowEntry(_Record):
    #: the workflow's key in the run: its file name
    key: str
    #: the file as given on the command line (for messages)
    path: str
    run: WorkflowRun


class SkippedWorkflow(_Record):
    path: str
    reason: str


class CheckoutRecord(_Record):
    """Where ``actions/checkout`` fetches from: the local repository, at the run's commit."""

    url: str
    sha: str
    ref: str | None = None


class RunManifest(_Record):
    version: int = MANIFEST_VERSION
    run_id: str
    run_number: int
    created_at: datetime
    event_name: str
    repository: str
    checkout: CheckoutRecord | None = None
    #: names only: values are given again on resume, never stored
    secret_names: tuple[str, ...] = ()
    max_parallel: int = Field(default=1, ge=1)
    job_filter: str | None = None
    workflows: tuple[WorkflowEntry, ...]
    skipped: tuple[SkippedWorkflow, ...] = ()


class ResultRecord(_Record):
    """What one attempt reported, as the local executor keeps it."""

    workflow: str
    name: str
    log: str
    result: JobResult


def atomic_write(path: Path, data: bytes, *, durable: bool) -> None:
    """Replace ``path`` with ``data`` all at once (see the module docstring)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    if durable:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _safe(part: str) -> str:
    """A path component from an id: instance ids and file names are already
    safe, this only guards against separators."""
    return part.replace("/", "_").replace("\\", "_").replace("\0", "_") or "_"


class RunDir:
    """One run's directory."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self._lock_fd: int | None = None
        self._journal: IO[str] | None = None
        self._results: dict[tuple[str, str, int], ResultRecord] | None = None

    # -- locking --------------------------------------------------------------

    def lock(self) -> None:
        """Hold the run for this process (released when the process ends,
        even by ``kill -9``); RunLockedError if another process holds it."""
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLockedError(
                f"run {self.run_id} is being executed by another cairn run process"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- the manifest ---------------------------------------------------------

    def write_manifest(self, manifest: RunManifest) -> None:
        atomic_write(self.path / "run.json", manifest.model_dump_json().encode(), durable=True)

    def read_manifest(self) -> RunManifest:
        path = self.path / "run.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RunStoreError(
                f"run {self.run_id} has no run.json (it was interrupted while being created)"
            ) from None
        except OSError as exc:
            raise RunStoreError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            version = json.loads(data).get("version")
        except (ValueError, AttributeError):
            raise RunStoreError(f"{path} is not a JSON object") from None
        if version != MANIFEST_VERSION:
            raise RunStoreError(
                f"{path} has version {version!r}; this cairn reads version {MANIFEST_VERSION}"
            )
        try:
            return RunManifest.model_validate_json(data)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise RunStoreError(f"{path} is malformed: {where}: {problem['msg']}") from None

    # -- the checkpoint -------------------------------------------------------

    def write_states(self, states: Mapping[str, WorkflowState]) -> None:
        """One checkpoint for every workflow of the run, in one atomic write."""
        body = ",".join(f"{json.dumps(key)}:{state.to_json()}" for key, state in states.items())
        document = (
            f'{{"v":{CHECKPOINT_VERSION},"run_id":{json.dumps(self.run_id)},'
            f'"workflows":{{{body}}}}}'
        )
        atomic_write(self.path / "state.json", document.encode(), durable=True)

    def read_states(self) -> dict[str, WorkflowState] | None:
        """The checkpoint, or None when the run never wrote one."""
        path = self.path / "state.json"
        try:
            data: Any = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RunStoreError(f"cannot read {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise RunStoreError(f"{path} is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("v") != CHECKPOINT_VERSION:
            raise RunStoreError(f"{path} is not a version {CHECKPOINT_VERSION} checkpoint")
        workflows = data.get("workflows")
        if not isinstance(workflows, dict):
            raise RunStoreError(f"{path} has no 'workflows' object")
        states: dict[str, WorkflowState] = {}
        for key, value in workflows.items():
            try:
                states[key] = WorkflowState.from_dict(value)
            except CheckpointError as exc:
                raise RunStoreError(f"{path}: workflow {key}: {exc}") from None
        return states

    # -- per attempt ----------------------------------------------------------

    def _attempt_file(self, kind: str, key: str, instance_id: str, attempt: int, ext: str) -> Path:
        return self.path / kind / _safe(key) / f"{_safe(instance_id)}@{attempt}.{ext}"

    def log_path(self, key: str, instance_id: str, attempt: int) -> Path:
        return self._attempt_file("logs", key, instance_id, attempt, "log")

    @property
    def journal_path(self) -> Path:
        return self.path / "results.jsonl"

    def workspace_path(self, key: str, instance_id: str, repo_name: str) -> Path:
        return self.path / "workspaces" / _safe(key) / _safe(instance_id) / _safe(repo_name)

    def write_result(self, record: ResultRecord) -> None:
        """Append an attempt's result to the journal (before the engine hears of it)."""
        if self._journal is None:
            self._journal = self.journal_path.open("a", encoding="utf-8")
        self._journal.write(record.model_dump_json() + "\n")
        self._journal.flush()
        if self._results is not None:
            self._results[_result_key(record)] = record

    def read_result(self, key: str, instance_id: str, attempt: int) -> ResultRecord | None:
        """The recorded result of an attempt; None when there is none."""
        if self._results is None:
            self._results = self._read_journal()
        return self._results.get((key, instance_id, attempt))

    def _read_journal(self) -> dict[tuple[str, str, int], ResultRecord]:
        results: dict[tuple[str, str, int], ResultRecord] = {}
        try:
            lines = self.journal_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return results
        except (OSError, UnicodeDecodeError) as exc:
            raise RunStoreError(f"cannot read {self.journal_path}: {exc}") from None
        for line in lines:
            try:
                record = ResultRecord.model_validate_json(line)
            except ValidationError:
                continue  # torn by a crash: that attempt runs again
            results[_result_key(record)] = record
        return results

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self.unlock()


def _result_key(record: ResultRecord) -> tuple[str, str, int]:
    return (record.workflow, record.result.instance_id, record.result.attempt)


class RunStore:
    """The state directory: every run's directory, by run id."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir

    def _prepare(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            ignore = self.root / ".gitignore"
            if not ignore.exists():
                ignore.write_text(GITIGNORE, encoding="utf-8")
        except OSError as exc:
            raise RunStoreError(
                f"cannot use state directory {self.root}: {exc.strerror or exc}"
            ) from None

    def run_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        ids = [p.name for p in self.root.iterdir() if _RUN_ID.match(p.name) and p.is_dir()]
        return sorted(ids, key=int)

    def create_run(self, now: datetime) -> RunDir:
        """A new run directory. Run ids are numbers, like GitHub's: the
        creation time in milliseconds, bumped past any existing id."""
        self._prepare()
        existing = self.run_ids()
        candidate = int(now.timestamp() * 1000)
        if existing:
            candidate = max(candidate, int(existing[-1]) + 1)
        while True:
            path = self.root / str(candidate)
            try:
                path.mkdir()
            except FileExistsError:
                candidate += 1
                continue
            except OSError as exc:
                raise RunStoreError(f"cannot create {path}: {exc.strerror or exc}") from None
            return RunDir(path, str(candidate))

    def next_run_number(self) -> int:
        """``github.run_number``: runs in this state directory, counting this one."""
        return len(self.run_ids())

    def open_run(self, run_id: str) -> RunDir:
        """An existing run; ``latest`` names the newest."""
        if run_id == "latest":
            ids = self.run_ids()
            if not ids:
                raise RunNotFoundError(f"there is no run in {self.root} to resume")
            run_id = ids[-1]
        if not _RUN_ID.match(run_id):
            raise RunNotFoundError(f"{run_id!r} is not a run id (run ids are numbers)")
        path = self.root / run_id
        if not path.is_dir():
            known = self.run_ids()[-5:]
            hint = f" (the latest: {', '.join(known)})" if known else ""
            raise RunNotFoundError(f"no run {run_id} in {self.root}{hint}")
        return RunDir(path, run_id)
