"""Where each context and special function may be used.

Encodes the "Context availability" table of GitHub's "Contexts reference":
for each workflow key, the contexts an expression there may read, and the
special functions it may call. Other functions (``contains``, ``format``...)
are available everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# Shorthands for the rows that share a set.
_JOB_LEVEL = frozenset({"github", "needs", "strategy", "matrix", "vars", "inputs"})
_STEP_LEVEL = frozenset(
    {
        "github",
        "needs",
        "strategy",
        "matrix",
        "job",
        "runner",
        "env",
        "vars",
        "secrets",
        "steps",
        "inputs",
    }
)
_STATUS = frozenset({"always", "cancelled", "success", "failure"})

#: workflow key -> contexts available there (GitHub's context-availability table).
AVAILABILITY: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "run-name": frozenset({"github", "inputs", "vars"}),
        "concurrency": frozenset({"github", "inputs", "vars"}),
        "env": frozenset({"github", "secrets", "inputs", "vars"}),
        "jobs.<job_id>.concurrency": _JOB_LEVEL,
        "jobs.<job_id>.container": _JOB_LEVEL,
        "jobs.<job_id>.container.credentials": _JOB_LEVEL | {"env", "secrets"},
        "jobs.<job_id>.container.env.<env_id>": _JOB_LEVEL | {"job", "runner", "env", "secrets"},
        "jobs.<job_id>.container.image": _JOB_LEVEL,
        "jobs.<job_id>.continue-on-error": _JOB_LEVEL,
        "jobs.<job_id>.defaults.run": _JOB_LEVEL | {"env"},
        "jobs.<job_id>.env": _JOB_LEVEL | {"secrets"},
        "jobs.<job_id>.environment": _JOB_LEVEL,
        "jobs.<job_id>.environment.url": _JOB_LEVEL | {"job", "runner", "env", "steps"},
        "jobs.<job_id>.if": frozenset({"github", "needs", "vars", "inputs"}),
        "jobs.<job_id>.name": _JOB_LEVEL,
        "jobs.<job_id>.outputs.<output_id>": _STEP_LEVEL,
        "jobs.<job_id>.runs-on": _JOB_LEVEL,
        "jobs.<job_id>.secrets.<secrets_id>": _JOB_LEVEL | {"secrets"},
        "jobs.<job_id>.services": _JOB_LEVEL,
        "jobs.<job_id>.services.<service_id>.credentials": _JOB_LEVEL | {"env", "secrets"},
        "jobs.<job_id>.services.<service_id>.env.<env_id>": _JOB_LEVEL
        | {"job", "runner", "env", "secrets"},
        "jobs.<job_id>.steps.continue-on-error": _STEP_LEVEL,
        "jobs.<job_id>.steps.env": _STEP_LEVEL,
        "jobs.<job_id>.steps.if": _STEP_LEVEL - {"secrets"},
        "jobs.<job_id>.steps.name": _STEP_LEVEL,
        "jobs.<job_id>.steps.run": _STEP_LEVEL,
        "jobs.<job_id>.steps.timeout-minutes": _STEP_LEVEL,
        "jobs.<job_id>.steps.with": _STEP_LEVEL,
        "jobs.<job_id>.steps.working-directory": _STEP_LEVEL,
        "jobs.<job_id>.strategy": frozenset({"github", "needs", "vars", "inputs"}),
        "jobs.<job_id>.timeout-minutes": _JOB_LEVEL,
        "jobs.<job_id>.with.<with_id>": _JOB_LEVEL,
        "on.workflow_call.inputs.<inputs_id>.default": frozenset({"github", "inputs", "vars"}),
        "on.workflow_call.outputs.<output_id>.value": frozenset(
            {"github", "jobs", "vars", "inputs"}
        ),
    }
)

_STEP_KEYS = (
    "continue-on-error",
    "env",
    "name",
    "run",
    "timeout-minutes",
    "with",
    "working-directory",
)

#: workflow key -> special functions available there (lower-case names); keys
#: not listed allow none. ``hashFiles`` needs the job's files, the status
#: functions need a status to read.
SPECIAL_FUNCTION_AVAILABILITY: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "jobs.<job_id>.if": _STATUS,
        "jobs.<job_id>.steps.if": _STATUS | {"hashfiles"},
        **{f"jobs.<job_id>.steps.{key}": frozenset({"hashfiles"}) for key in _STEP_KEYS},
    }
)

#: Functions that are not available everywhere (lower-case).
SPECIAL_FUNCTIONS: Final = _STATUS | {"hashfiles"}
