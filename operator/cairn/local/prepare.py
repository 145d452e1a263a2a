"""From ``cairn run``'s arguments to the engine's run specs: find the
workflow files, compile them, keep those the event triggers (saying why the
others were skipped), narrow them to ``--job`` and its needs, and fill each
one's contexts. Everything that can be wrong with the input is found here,
before a run directory exists.
"""

from __future__ import annotations

import secrets as secrets_module
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.engine.run import WorkflowRun
from cairn.local.context import (
    INPUT_EVENTS,
    declared_inputs,
    default_payload,
    event_inputs,
    github_context,
    resolve_inputs,
)
from cairn.local.errors import InvalidInputError
from cairn.local.repository import Repository
from cairn.local.store import SkippedWorkflow, WorkflowEntry
from cairn.workflow import (
    MatrixError,
    WorkflowError,
    WorkflowNotFoundError,
    compile_plan,
    discover_workflows,
    explain_trigger,
    load_workflow,
)
from cairn.workflow.model import Plan, Workflow
from cairn.workflow.reader import suggestion

DEFAULT_WORKFLOWS = Path(".github") / "workflows"


class CompileFailure(InvalidInputError):
    """One or more workflow files do not compile; ``str()`` is every
    ``path:line:col: message`` line."""


@dataclass(frozen=True)
class Selected:
    """A workflow the event triggers, compiled (and narrowed to ``--job``)."""

    key: str
    path: Path
    plan: Plan
    inputs: dict[str, Any]
    payload: dict[str, Any]


@dataclass
class Selection:
    selected: list[Selected] = field(default_factory=list)
    skipped: list[SkippedWorkflow] = field(default_factory=list)


def workflow_files(path: Path) -> list[Path]:
    try:
        files = discover_workflows(path)
    except WorkflowNotFoundError as exc:
        raise InvalidInputError(str(exc)) from None
    if not files:
        raise InvalidInputError(f"no workflow files (*.yml, *.yaml) in {path}")
    return files


def shown_path(path: Path, cwd: Path) -> Path:
    """``path`` as people refer to it: relative to ``cwd`` when inside it
    (``.github/workflows/ci.yml``, which is also GitHub's name of a workflow
    without ``name``)."""
    try:
        return path.relative_to(cwd)
    except ValueError:
        return path


def compile_all(files: list[Path], cwd: Path) -> list[tuple[Path, Plan]]:
    """Every file compiled; CompileFailure listing all problems of all files."""
    compiled: list[tuple[Path, Plan]] = []
    problems: list[str] = []
    for path in files:
        try:
            shown = str(shown_path(path, cwd))
            compiled.append((path, compile_plan(load_workflow(path, name=shown))))
        except WorkflowError as exc:
            problems.append(str(exc))
        except MatrixError as exc:
            problems.append(f"{path}:1:1: {exc}")
    if problems:
        raise CompileFailure("\n".join(problems))
    keys: dict[str, Path] = {}
    for path, _ in compiled:
        if path.name in keys:
            raise InvalidInputError(f"two workflow files are named {path.name}: {keys[path.name]}")
        keys[path.name] = path
    return compiled


def needed_jobs(workflow: Workflow, job_id: str) -> list[str]:
    """``job_id`` and every job it needs, transitively, in file order."""
    wanted: set[str] = set()
    stack = [job_id]
    while stack:
        current = stack.pop()
        if current in wanted:
            continue
        wanted.add(current)
        stack.extend(workflow.jobs[current].needs)
    return [j for j in workflow.jobs if j in wanted]


def narrow(plan: Plan, job_id: str) -> Plan:
    workflow = plan.workflow
    jobs = {j: workflow.jobs[j] for j in needed_jobs(workflow, job_id)}
    return compile_plan(workflow.model_copy(update={"jobs": jobs}))


def select(
    compiled: list[tuple[Path, Plan]],
    *,
    event_name: str,
    payload: Mapping[str, Any] | None,
    repo: Repository,
    job: str | None,
    inputs: Mapping[str, str],
) -> Selection:
    """The workflows to run. ``payload`` None: a made-up one per workflow."""
    selection = Selection()
    for path, plan in compiled:
        workflow = plan.workflow
        event = dict(payload) if payload is not None else default_payload(event_name, repo)
        given: dict[str, Any] = {}
        if event_name in INPUT_EVENTS:
            from_payload = event.get("inputs")
            if isinstance(from_payload, dict):
                given.update(from_payload)
            given.update(inputs)
        decision = explain_trigger(workflow, event_name, event)
        if not decision.triggered:
            selection.skipped.append(SkippedWorkflow(path=workflow.file, reason=decision.reason))
            continue
        if job is not None:
            if job not in workflow.jobs:
                reason = f"it has no job {job!r}{suggestion(job, workflow.jobs)}"
                selection.skipped.append(SkippedWorkflow(path=workflow.file, reason=reason))
                continue
            plan = narrow(plan, job)
        resolved = resolve_inputs(workflow, event_name, given)
        if event_name in INPUT_EVENTS:
            event["inputs"] = event_inputs(resolved)
        selection.selected.append(Selected(path.name, path, plan, resolved, event))
    if inputs:
        declared = {
            name
            for chosen in selection.selected
            for name in declared_inputs(chosen.plan.workflow, event_name)
        }
        unknown = sorted(set(inputs) - declared)
        if event_name not in INPUT_EVENTS:
            raise InvalidInputError(
                f"--input is for workflow_dispatch and workflow_call events, not {event_name!r}"
            )
        if unknown:
            known = ", ".join(sorted(declared)) or "none"
            raise InvalidInputError(
                f"unexpected input(s) {', '.join(unknown)} (the workflows declare: {known})"
            )
    if job is not None and not selection.selected:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in selection.skipped)
        raise InvalidInputError(f"no triggered workflow has a job {job!r} ({reasons})")
    return selection


def relative_path(path: Path, repo: Repository) -> str:
    if repo.root is not None:
        try:
            return path.resolve().relative_to(repo.root.resolve()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def workflow_runs(
    selection: Selection,
    *,
    event_name: str,
    repo: Repository,
    run_id: str,
    run_number: int,
    secrets: Mapping[str, str],
    variables: Mapping[str, str],
) -> list[WorkflowEntry]:
    """The engine's run spec of each selected workflow."""
    entries: list[WorkflowEntry] = []
    for chosen in selection.selected:
        github = github_context(
            event_name=event_name,
            payload=chosen.payload,
            repo=repo,
            workflow=chosen.plan.workflow,
            workflow_path=relative_path(chosen.path, repo),
            run_id=run_id,
            run_number=run_number,
        )
        run = WorkflowRun(
            name=f"{run_id}/{chosen.key}",
            plan=chosen.plan,
            github=github,
            inputs=chosen.inputs,
            vars=dict(variables),
            secret_names=tuple(sorted(secrets)),
            token_seed=secrets_module.token_hex(16),
        )
        entries.append(WorkflowEntry(key=chosen.key, path=chosen.plan.workflow.file, run=run))
    return entries
