"""The words of GitHub's workflow syntax: keys, events, activity types, scopes.

Taken from GitHub's "Workflow syntax" and "Events that trigger workflows"
reference pages. Unknown words are errors with a suggestion, so these tables
are what users' typos are compared against.
"""

from __future__ import annotations

import re

WORKFLOW_KEYS = ("name", "run-name", "on", "env", "defaults", "permissions", "concurrency", "jobs")

#: keys of a job that runs steps on a runner
RUNNER_JOB_KEYS = (
    "name",
    "needs",
    "permissions",
    "if",
    "runs-on",
    "environment",
    "concurrency",
    "outputs",
    "env",
    "defaults",
    "steps",
    "timeout-minutes",
    "strategy",
    "continue-on-error",
    "container",
    "services",
)
#: keys of a job that calls a reusable workflow (``jobs.<id>.uses``)
CALLER_JOB_KEYS = (
    "name",
    "uses",
    "with",
    "secrets",
    "needs",
    "if",
    "permissions",
    "strategy",
    "concurrency",
)
#: documented job keys Cairn does not implement: rejected as "not supported"
UNSUPPORTED_JOB_KEYS = {
    "snapshot": "custom runner image snapshots (jobs.<job_id>.snapshot) are not supported by Cairn",
    "cancel-timeout-minutes": "'cancel-timeout-minutes' is not supported by Cairn",
    "cache-mode": "'cache-mode' is not supported by Cairn",
}
#: workflow keys some tools accept that Cairn does not implement
UNSUPPORTED_WORKFLOW_KEYS = {
    "description": "a workflow-level 'description' is not supported by Cairn",
}

STEP_KEYS = (
    "id",
    "if",
    "name",
    "uses",
    "run",
    "working-directory",
    "shell",
    "with",
    "env",
    "continue-on-error",
    "timeout-minutes",
)
RUN_ONLY_STEP_KEYS = ("shell", "working-directory")
#: GitHub's parallel steps; Cairn runs steps one after another
UNSUPPORTED_STEP_KEYS = {
    key: f"parallel steps ('{key}') are not supported by Cairn; steps run one after another"
    for key in ("background", "wait", "wait-all", "cancel")
}
USES_ONLY_STEP_KEYS = ("with",)

STRATEGY_KEYS = ("matrix", "fail-fast", "max-parallel")
CONTAINER_KEYS = ("image", "credentials", "env", "ports", "volumes", "options")
CREDENTIAL_KEYS = ("username", "password")
CONCURRENCY_KEYS = ("group", "cancel-in-progress")
ENVIRONMENT_KEYS = ("name", "url")
DEFAULTS_KEYS = ("run",)
RUN_DEFAULTS_KEYS = ("shell", "working-directory")
RUNS_ON_KEYS = ("group", "labels")

#: filter keys per event; events absent here take no filters at all
PUSH_FILTERS = ("branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore")
PULL_REQUEST_FILTERS = ("types", "branches", "branches-ignore", "paths", "paths-ignore")
WORKFLOW_RUN_FILTERS = ("types", "workflows", "branches", "branches-ignore")

DISPATCH_INPUT_KEYS = ("description", "required", "default", "type", "options")
CALL_INPUT_KEYS = ("description", "required", "default", "type")
CALL_OUTPUT_KEYS = ("description", "value")
CALL_SECRET_KEYS = ("description", "required")
DISPATCH_INPUT_TYPES = ("string", "boolean", "number", "choice", "environment")
CALL_INPUT_TYPES = ("string", "boolean", "number")

#: every webhook event that can trigger a workflow, with its activity types;
#: ``None`` means the event has no ``types`` filter, an empty tuple means any
#: type is accepted (``repository_dispatch`` types are user-defined).
EVENTS: dict[str, tuple[str, ...] | None] = {
    "branch_protection_rule": ("created", "edited", "deleted"),
    "check_run": ("created", "rerequested", "completed", "requested_action"),
    "check_suite": ("completed",),
    "create": None,
    "delete": None,
    "deployment": None,
    "deployment_status": None,
    "discussion": (
        "created",
        "edited",
        "deleted",
        "transferred",
        "pinned",
        "unpinned",
        "labeled",
        "unlabeled",
        "locked",
        "unlocked",
        "category_changed",
        "answered",
        "unanswered",
    ),
    "discussion_comment": ("created", "edited", "deleted"),
    "fork": None,
    "gollum": None,
    "issue_comment": ("created", "edited", "deleted"),
    "issues": (
        "opened",
        "edited",
        "deleted",
        "transferred",
        "pinned",
        "unpinned",
        "closed",
        "reopened",
        "assigned",
        "unassigned",
        "labeled",
        "unlabeled",
        "locked",
        "unlocked",
        "milestoned",
        "demilestoned",
        "typed",
        "untyped",
    ),
    "label": ("created", "edited", "deleted"),
    "merge_group": ("checks_requested",),
    "milestone": ("created", "closed", "opened", "edited", "deleted"),
    "page_build": None,
    "project": ("created", "closed", "reopened", "edited", "deleted"),
    "project_card": ("created", "moved", "converted", "edited", "deleted"),
    "project_column": ("created", "updated", "moved", "deleted"),
    "public": None,
    "pull_request": (
        "assigned",
        "unassigned",
        "labeled",
        "unlabeled",
        "opened",
        "edited",
        "closed",
        "reopened",
        "synchronize",
        "converted_to_draft",
        "ready_for_review",
        "locked",
        "unlocked",
        "review_requested",
        "review_request_removed",
        "auto_merge_enabled",
        "auto_merge_disabled",
        "milestoned",
        "demilestoned",
        "enqueued",
        "dequeued",
    ),
    "pull_request_review": ("submitted", "edited", "dismissed"),
    "pull_request_review_comment": ("created", "edited", "deleted"),
    "push": None,
    "registry_package": ("published", "updated"),
    "release": (
        "published",
        "unpublished",
        "created",
        "edited",
        "deleted",
        "prereleased",
        "released",
    ),
    "repository_dispatch": (),
    "schedule": None,
    "status": None,
    "watch": ("started",),
    "workflow_call": None,
    "workflow_dispatch": None,
    "workflow_run": ("completed", "requested", "in_progress"),
}
EVENTS["pull_request_target"] = EVENTS["pull_request"]

#: the activity types that trigger when ``types`` is not given (all others: any)
DEFAULT_TYPES: dict[str, tuple[str, ...]] = {
    "pull_request": ("opened", "synchronize", "reopened"),
    "pull_request_target": ("opened", "synchronize", "reopened"),
}

#: documented events Cairn cannot evaluate: rejected as "not supported"
UNSUPPORTED_EVENTS = {
    "image_version": "the image_version event (custom runner images) is not supported by Cairn",
}

PERMISSION_SCOPES = (
    "actions",
    "attestations",
    "checks",
    "contents",
    "deployments",
    "discussions",
    "id-token",
    "issues",
    "models",
    "packages",
    "pages",
    "pull-requests",
    "repository-projects",
    "security-events",
    "statuses",
)
PERMISSION_LEVELS = ("read", "write", "none")
#: scopes that only take some levels
PERMISSION_SCOPE_LEVELS = {"id-token": ("write", "none"), "models": ("read", "none")}
PERMISSION_SHORTHANDS = ("read-all", "write-all")

#: job ids, step ids, input and output names
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
IDENTIFIER_RULE = "must start with a letter or '_' and contain only letters, digits, '-' or '_'"
