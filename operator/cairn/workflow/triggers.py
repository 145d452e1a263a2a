"""Does an event run a workflow? GitHub's ``on`` filter semantics.

- The event must be one of the workflow's events, and its activity type
  (``payload["action"]``) one of ``types``; without ``types`` every type
  triggers, except ``pull_request``/``pull_request_target`` which default to
  ``opened``, ``synchronize`` and ``reopened``.
- ``push``: ``branches``/``branches-ignore`` apply to ``refs/heads/*`` and
  ``tags``/``tags-ignore`` to ``refs/tags/*``. When only branch filters are
  given, tag pushes do not trigger, and the other way round. Path filters
  apply to branch pushes only (GitHub does not evaluate them for tags).
- ``pull_request*``: branch filters match the *base* branch.
- ``workflow_run``: ``workflows`` names the triggering workflow, branch
  filters match its head branch.
- ``paths``: at least one changed file must match; ``paths-ignore``: the
  workflow is skipped only when every changed file matches. Changed files
  are the ``added``, ``modified`` and ``removed`` lists of the payload's
  ``commits``. When those lists are there but empty (commits that change no
  file), nothing matches and the workflow does not run, as GitHub documents.
  When the payload carries no file lists at all, GitHub's rule for a diff it
  cannot compute applies: the workflow runs.

Missing payload data that a filter needs (no ``ref`` for a branch filter,
no ``action`` for a ``types`` filter) means the event does not pass, and the
reason says which field was missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cairn.workflow import vocabulary as vocab
from cairn.workflow.filters import compile_patterns, match_ordered
from cairn.workflow.model import EventFilter, Workflow


@dataclass(frozen=True)
class TriggerDecision:
    triggered: bool
    #: why, in words, for people reading ``cairn plan``
    reason: str


def is_triggered(workflow: Workflow, event_name: str, payload: Mapping[str, Any]) -> bool:
    """Whether ``event_name`` with ``payload`` (the webhook body) runs ``workflow``."""
    return explain_trigger(workflow, event_name, payload).triggered


def explain_trigger(
    workflow: Workflow, event_name: str, payload: Mapping[str, Any]
) -> TriggerDecision:
    """``is_triggered`` with the reason of the decision."""
    events = workflow.on.events
    if event_name not in events:
        return _no(f"the workflow does not run on {event_name!r} (on: {', '.join(events)})")
    filters = events[event_name]
    if event_name == "schedule":
        return _schedule(workflow, payload)
    decision = _activity_type(event_name, filters, payload)
    if decision is not None:
        return decision
    if event_name == "push":
        return _push(filters, payload)
    if event_name in ("pull_request", "pull_request_target"):
        return _pull_request(filters, payload)
    if event_name == "workflow_run":
        return _workflow_run(filters, payload)
    return _yes(f"{event_name!r} is one of the workflow's events")


def _yes(reason: str) -> TriggerDecision:
    return TriggerDecision(True, reason)


def _no(reason: str) -> TriggerDecision:
    return TriggerDecision(False, reason)


def _schedule(workflow: Workflow, payload: Mapping[str, Any]) -> TriggerDecision:
    cron = payload.get("schedule")
    crons = [entry.cron for entry in workflow.on.schedule]
    if cron is None:
        return _yes("the workflow runs on a schedule")
    if cron not in crons:
        return _no(f"schedule {cron!r} is not one of the workflow's ({', '.join(crons)})")
    return _yes(f"schedule {cron!r} is one of the workflow's")


def _activity_type(
    event_name: str, filters: EventFilter, payload: Mapping[str, Any]
) -> TriggerDecision | None:
    if vocab.EVENTS.get(event_name) is None:
        return None
    wanted = filters.types if filters.types is not None else vocab.DEFAULT_TYPES.get(event_name)
    if wanted is None:
        return None
    action = payload.get("action")
    if not isinstance(action, str):
        return _no(f"the payload has no 'action' to match against types ({', '.join(wanted)})")
    if action not in wanted:
        return _no(f"activity type {action!r} is not one of {', '.join(wanted)}")
    return None


def _push(filters: EventFilter, payload: Mapping[str, Any]) -> TriggerDecision:
    branch_filters = filters.branches is not None or filters.branches_ignore is not None
    tag_filters = filters.tags is not None or filters.tags_ignore is not None
    path_filters = filters.paths is not None or filters.paths_ignore is not None
    if not (branch_filters or tag_filters or path_filters):
        return _yes("push has no filters")
    ref = payload.get("ref")
    if not isinstance(ref, str):
        return _no("the payload has no 'ref' (e.g. refs/heads/main) to match the push filters")
    if ref.startswith("refs/tags/"):
        tag = ref[len("refs/tags/") :]
        if branch_filters and not tag_filters:
            return _no(f"tag {tag!r}: the workflow filters branches only, so tags do not run it")
        decision = _names("tag", tag, filters.tags, filters.tags_ignore)
        if decision is not None:
            return decision
        return _yes(f"tag {tag!r} passes the tag filters")
    if ref.startswith("refs/heads/"):
        branch = ref[len("refs/heads/") :]
        if tag_filters and not branch_filters:
            return _no(
                f"branch {branch!r}: the workflow filters tags only, so branches do not run it"
            )
        decision = _names("branch", branch, filters.branches, filters.branches_ignore)
        if decision is not None:
            return decision
        return _paths(filters, payload, f"branch {branch!r} passes the branch filters")
    if branch_filters or tag_filters:
        return _no(f"ref {ref!r} is neither a branch nor a tag")
    return _paths(filters, payload, f"ref {ref!r}")


def _pull_request(filters: EventFilter, payload: Mapping[str, Any]) -> TriggerDecision:
    if filters.branches is not None or filters.branches_ignore is not None:
        base = _dig(payload, "pull_request", "base", "ref")
        if not isinstance(base, str):
            return _no("the payload has no pull_request.base.ref to match the branch filters")
        base = base.removeprefix("refs/heads/")
        decision = _names("base branch", base, filters.branches, filters.branches_ignore)
        if decision is not None:
            return decision
        return _paths(filters, payload, f"base branch {base!r} passes the branch filters")
    return _paths(filters, payload, "the pull request passes the filters")


def _workflow_run(filters: EventFilter, payload: Mapping[str, Any]) -> TriggerDecision:
    if filters.workflows is not None:
        name = _dig(payload, "workflow", "name")
        if name is None:
            name = _dig(payload, "workflow_run", "name")
        if not isinstance(name, str):
            return _no("the payload has no workflow.name to match 'workflows'")
        if name not in filters.workflows:
            return _no(f"workflow {name!r} is not one of {', '.join(filters.workflows)}")
    if filters.branches is not None or filters.branches_ignore is not None:
        branch = _dig(payload, "workflow_run", "head_branch")
        if not isinstance(branch, str):
            return _no("the payload has no workflow_run.head_branch to match the branch filters")
        decision = _names("head branch", branch, filters.branches, filters.branches_ignore)
        if decision is not None:
            return decision
    return _yes("the workflow run passes the filters")


def _names(
    what: str,
    name: str,
    include: Sequence[str] | None,
    ignore: Sequence[str] | None,
) -> TriggerDecision | None:
    """A refusal when ``name`` fails the include/ignore lists, else ``None``."""
    if include is not None and not match_ordered(compile_patterns(include), name):
        return _no(f"{what} {name!r} does not match {', '.join(include)}")
    if ignore is not None and match_ordered(compile_patterns(ignore), name):
        return _no(f"{what} {name!r} is ignored by {', '.join(ignore)}")
    return None


def _paths(filters: EventFilter, payload: Mapping[str, Any], passed: str) -> TriggerDecision:
    if filters.paths is None and filters.paths_ignore is None:
        return _yes(passed)
    files = changed_files(payload)
    if not files:
        if lists_changed_files(payload):
            return _no("the pushed commits change no files, so no path filter can match")
        return _yes(f"{passed}; the payload lists no changed files, so path filters pass")
    if filters.paths is not None:
        patterns = compile_patterns(filters.paths)
        if not any(match_ordered(patterns, f) for f in files):
            return _no(f"no changed file matches paths {', '.join(filters.paths)}")
    if filters.paths_ignore is not None:
        patterns = compile_patterns(filters.paths_ignore)
        if all(match_ordered(patterns, f) for f in files):
            return _no(f"every changed file matches paths-ignore {', '.join(filters.paths_ignore)}")
    return _yes(f"{passed}; changed files pass the path filters")


def changed_files(payload: Mapping[str, Any]) -> list[str]:
    """The files added, modified or removed by the payload's commits, in order, once each."""
    commits = payload.get("commits")
    if not isinstance(commits, list):
        return []
    seen: dict[str, None] = {}
    for commit in commits:
        if not isinstance(commit, Mapping):
            continue
        for key in ("added", "modified", "removed"):
            entries = commit.get(key)
            if isinstance(entries, list):
                for entry in entries:
                    if isinstance(entry, str):
                        seen.setdefault(entry, None)
    return list(seen)


def lists_changed_files(payload: Mapping[str, Any]) -> bool:
    """Whether the payload's commits carry file lists at all (even empty ones)."""
    commits = payload.get("commits")
    if not isinstance(commits, list):
        return False
    return any(
        isinstance(commit, Mapping)
        and any(isinstance(commit.get(key), list) for key in ("added", "modified", "removed"))
        for commit in commits
    )


def _dig(payload: Mapping[str, Any], *keys: str) -> Any:
    value: Any = payload
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
