"""Starting a run, or picking one up again: everything between the command
line and the executor's loop.

A new run is validated completely (event, payload, flags, workflows,
inputs) before its directory is created, so invalid input leaves nothing
behind. A resumed run is rebuilt from its directory alone: the manifest gives
the run specs, the checkpoint the states, and each attempt that was running
when the process died is either completed from its recorded result or
reported lost (a new attempt starts).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cairn.engine.decide import initial_state
from cairn.engine.events import Event, JobCompleted, JobLost, RerunRequested
from cairn.engine.state import WorkflowState
from cairn.local.context import parse_assignments, read_payload
from cairn.local.errors import InvalidInputError
from cairn.local.prepare import (
    DEFAULT_WORKFLOWS,
    Selection,
    compile_all,
    select,
    workflow_files,
    workflow_runs,
)
from cairn.local.repository import Repository, discover_repository
from cairn.local.store import (
    CheckoutRecord,
    RunDir,
    RunManifest,
    RunStore,
    SkippedWorkflow,
)
from cairn.workflow import vocabulary as vocab
from cairn.workflow.reader import suggestion

STATE_DIR_NAME = ".cairn"
LOST_REASON = "the cairn run process ended while the job ran"


@dataclass(frozen=True)
class RunOptions:
    """``cairn run``'s arguments (``secrets``/``vars``/``inputs`` as ``K=V``)."""

    path: Path | None = None
    event: str = "push"
    payload: Path | None = None
    job: str | None = None
    secrets: tuple[str, ...] = ()
    vars: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    max_parallel: int | None = None
    state_dir: Path | None = None
    resume: str | None = None
    json: bool = False
    #: where the command runs (the repository is found from here)
    cwd: Path = field(default_factory=Path.cwd)


def default_max_parallel() -> int:
    """As many jobs at once as there are CPUs (act's default too)."""
    return max(os.cpu_count() or 1, 1)


@dataclass
class Session:
    run_dir: RunDir
    manifest: RunManifest
    states: dict[str, WorkflowState]
    #: what the first engine wake is told (a resumed run's lost attempts)
    events: list[tuple[str, Event]]
    secrets: dict[str, str]
    max_parallel: int
    resumed: bool
    repo: Repository | None = None


@dataclass(frozen=True)
class NothingToRun:
    """No workflow runs on the event: every one was skipped, with its reason."""

    skipped: tuple[SkippedWorkflow, ...]


def _resolve(path: Path, cwd: Path) -> Path:
    return path if path.is_absolute() else cwd / path


def _secrets(options: RunOptions) -> dict[str, str]:
    secrets = parse_assignments(options.secrets, "--secret", environ=os.environ)
    return secrets


def _check_max_parallel(value: int | None) -> None:
    if value is not None and value < 1:
        raise InvalidInputError(f"--max-parallel must be at least 1, got {value}")


def start(options: RunOptions, now: datetime) -> Session | NothingToRun:
    """Validate everything, then create the run's directory and manifest."""
    if options.event not in vocab.EVENTS:
        raise InvalidInputError(
            f"unknown event {options.event!r}{suggestion(options.event, vocab.EVENTS)}"
        )
    _check_max_parallel(options.max_parallel)
    secrets = _secrets(options)
    variables = parse_assignments(options.vars, "--var")
    inputs = parse_assignments(options.inputs, "--input", inputs=True)
    payload = read_payload(_resolve(options.payload, options.cwd)) if options.payload else None

    if options.path is not None:
        path = _resolve(options.path, options.cwd)
        repo = discover_repository(path if path.is_dir() else path.parent)
    else:
        repo = discover_repository(options.cwd)
        if repo.root is None:
            raise InvalidInputError(
                f"{options.cwd} is not in a git repository: give a workflow file or directory"
            )
        path = repo.root / DEFAULT_WORKFLOWS
    compiled = compile_all(workflow_files(path), options.cwd)
    selection: Selection = select(
        compiled,
        event_name=options.event,
        payload=payload,
        repo=repo,
        job=options.job,
        inputs=inputs,
    )
    if not selection.selected:
        return NothingToRun(tuple(selection.skipped))

    store = RunStore(state_directory(options, repo))
    run_dir = store.create_run(now)
    try:
        run_dir.lock()
        session = _create(run_dir, store, options, repo, selection, secrets, variables, now)
    except BaseException:
        # nothing ran: a half-made run directory would only be a broken --resume target
        run_dir.unlock()
        shutil.rmtree(run_dir.path, ignore_errors=True)
        raise
    return session


def _create(
    run_dir: RunDir,
    store: RunStore,
    options: RunOptions,
    repo: Repository,
    selection: Selection,
    secrets: dict[str, str],
    variables: dict[str, str],
    now: datetime,
) -> Session:
    run_number = store.next_run_number()
    entries = workflow_runs(
        selection,
        event_name=options.event,
        repo=repo,
        run_id=run_dir.run_id,
        run_number=run_number,
        secrets=secrets,
        variables=variables,
    )
    checkout = None
    if repo.root is not None and repo.sha:
        first = entries[0].run.github
        checkout = CheckoutRecord(url=str(repo.root), sha=first["sha"], ref=first["ref"] or None)
    max_parallel = options.max_parallel or default_max_parallel()
    manifest = RunManifest(
        run_id=run_dir.run_id,
        run_number=run_number,
        created_at=now,
        event_name=options.event,
        repository=repo.full_name,
        checkout=checkout,
        secret_names=tuple(sorted(secrets)),
        max_parallel=max_parallel,
        job_filter=options.job,
        workflows=tuple(entries),
        skipped=tuple(selection.skipped),
    )
    run_dir.write_manifest(manifest)
    states = {entry.key: initial_state(entry.run, now) for entry in entries}
    return Session(
        run_dir=run_dir,
        manifest=manifest,
        states=states,
        events=[],
        secrets=secrets,
        max_parallel=max_parallel,
        resumed=False,
        repo=repo,
    )


def state_directory(options: RunOptions, repo: Repository | None) -> Path:
    if options.state_dir is not None:
        return _resolve(options.state_dir, options.cwd)
    base = repo.root if repo is not None and repo.root is not None else options.cwd
    return base / STATE_DIR_NAME


_FIXED_AT_START = (
    ("path", "PATH"),
    ("payload", "--payload"),
    ("job", "--job"),
    ("vars", "--var"),
    ("inputs", "--input"),
)


def resume(options: RunOptions, now: datetime) -> Session:
    """Pick a run up where its last process left it."""
    assert options.resume is not None
    given = [flag for name, flag in _FIXED_AT_START if getattr(options, name)]
    if options.event != "push":
        given.append("--event")
    if given:
        raise InvalidInputError(
            f"{', '.join(given)} cannot be combined with --resume: "
            "a run's workflows and inputs are fixed when it starts"
        )
    _check_max_parallel(options.max_parallel)
    repo = None
    if options.state_dir is None:
        repo = discover_repository(options.cwd)
    store = RunStore(state_directory(options, repo))
    run_dir = store.open_run(options.resume)
    run_dir.lock()
    try:
        return _reopen(run_dir, options, repo, now)
    except BaseException:
        run_dir.unlock()
        raise


def _reopen(
    run_dir: RunDir, options: RunOptions, repo: Repository | None, now: datetime
) -> Session:
    manifest = run_dir.read_manifest()
    secrets = _secrets(options)
    missing = sorted(set(manifest.secret_names) - set(secrets))
    extra = sorted(set(secrets) - set(manifest.secret_names))
    if missing:
        flags = " ".join(f"--secret {name}=..." for name in missing)
        raise InvalidInputError(
            f"run {run_dir.run_id} uses secrets that are never stored on disk; "
            f"give them again: {flags}"
        )
    if extra:
        raise InvalidInputError(
            f"run {run_dir.run_id} was started without the secret(s) {', '.join(extra)}"
        )
    stored = run_dir.read_states() or {}
    states: dict[str, WorkflowState] = {}
    for entry in manifest.workflows:
        states[entry.key] = stored.get(entry.key) or initial_state(entry.run, now)
    events = recovery_events(run_dir, states)
    return Session(
        run_dir=run_dir,
        manifest=manifest,
        states=states,
        events=events,
        secrets=secrets,
        max_parallel=options.max_parallel or manifest.max_parallel,
        resumed=True,
        repo=repo,
    )


def recovery_events(
    run_dir: RunDir, states: Mapping[str, WorkflowState]
) -> list[tuple[str, Event]]:
    """What the engine must hear before a resumed run goes on.

    - an attempt that was dispatched and has a recorded result finished
      before the crash: its result is delivered (it is not run again);
    - one without a result was lost with the process: ``JobLost``;
    - a workflow that ended cancelled (Ctrl-C) is re-run for its cancelled
      and failed jobs, as GitHub's "Re-run failed jobs" does; one that ended
      otherwise has nothing left to do.
    """
    events: list[tuple[str, Event]] = []
    for key, state in states.items():
        if state.phase == "completed":
            if state.conclusion == "cancelled":
                events.append(
                    (key, RerunRequested(run_attempt=state.run_attempt, failed_only=True))
                )
            continue
        for instance_id, job in state.jobs.items():
            if job.completed or not job.dispatched or job.token is None:
                continue
            record = run_dir.read_result(key, instance_id, job.attempt)
            if record is not None:
                events.append((key, JobCompleted(token=job.token, result=record.result)))
            else:
                lost = JobLost(
                    instance_id=instance_id,
                    attempt=job.attempt,
                    token=job.token,
                    reason=LOST_REASON,
                )
                events.append((key, lost))
    return events
