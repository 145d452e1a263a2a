"""Protected environments: which ``environment:`` names make a job wait for approval.

On GitHub, protection is a repository setting that the author of a workflow
run cannot change. The cluster's equivalent is the operator-wide setting
``CAIRN_PROTECTED_ENVIRONMENTS``, which always applies; a CIRun's
``spec.protectedEnvironments`` can only add names to it, never take one away.

GitHub's rules for environment names: they are not case sensitive and may not
exceed 255 characters. Cairn also refuses names a setting or a list could not
carry unambiguously: empty ones, surrounding whitespace, control characters,
commas (``CAIRN_PROTECTED_ENVIRONMENTS`` is comma-separated) and ``${{``
(a protected name is a literal; the job's ``environment:`` may be an
expression, whose value is compared).

The engine compares the job's evaluated environment with the protected names
exactly. So that ``Production`` in a workflow is protected by ``production``
in a setting, the names a plan spells literally are matched here
case-insensitively and added in the plan's own spelling; an ``environment:``
given as an expression is protected when its value is spelled like a
protected name (or like a literal spelling of it in the plan).
"""

from __future__ import annotations

from collections.abc import Iterable

from cairn.errors import CairnError
from cairn.workflow.model import Plan

MAX_ENVIRONMENT_NAME = 255
#: at most this many names in one CIRun (the CRD says the same)
MAX_PROTECTED_PER_RUN = 100


class InvalidEnvironmentNameError(CairnError):
    """A protected environment name that GitHub (or Cairn's lists) would not accept."""


def check_environment_name(name: str) -> str:
    """``name`` if it is a usable environment name; else InvalidEnvironmentNameError."""
    if not name or not name.strip():
        raise InvalidEnvironmentNameError("an environment name must not be empty")
    if name != name.strip():
        raise InvalidEnvironmentNameError(
            f"environment name {name!r} has leading or trailing whitespace"
        )
    if len(name) > MAX_ENVIRONMENT_NAME:
        raise InvalidEnvironmentNameError(
            f"environment name {name[:40]!r}... is {len(name)} characters; "
            f"GitHub allows at most {MAX_ENVIRONMENT_NAME}"
        )
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise InvalidEnvironmentNameError(f"environment name {name!r} contains a control character")
    if "," in name:
        raise InvalidEnvironmentNameError(
            f"environment name {name!r} contains a comma (lists of names are comma-separated)"
        )
    if "${{" in name:
        raise InvalidEnvironmentNameError(
            f"environment name {name!r} is an expression; protect the literal name it evaluates to"
        )
    return name


def unique_names(names: Iterable[str]) -> tuple[str, ...]:
    """Valid names, first spelling kept among case-insensitive duplicates."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(check_environment_name(name).casefold(), name)
    return tuple(seen.values())


def protected_for_plan(
    operator_wide: Iterable[str], per_run: Iterable[str], plan: Plan
) -> tuple[str, ...]:
    """The names to put in ``WorkflowRun.protected_environments`` for ``plan``:
    the union of both lists, plus each literal spelling in the plan that
    matches one of them case-insensitively. Sorted, so the spec is stable."""
    protected = unique_names([*operator_wide, *per_run])
    wanted = {name.casefold() for name in protected}
    spellings = set(protected)
    for job in plan.workflow.jobs.values():
        environment = job.environment
        if environment is None or "${{" in environment.name:
            continue
        if environment.name.casefold() in wanted:
            spellings.add(environment.name)
    return tuple(sorted(spellings))
