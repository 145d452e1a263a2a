"""The run's inputs as GitHub would present them: the event payload, the
``github`` context, the ``inputs`` of ``workflow_dispatch``/``workflow_call``,
and the ``K=V`` flags of ``cairn run``.

Without ``--payload`` a payload of the webhook's shape is made up from the
repository: a push of HEAD to the current branch, a pull request opened from
the current branch into the default branch, a dispatch on the current ref.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cairn.local.errors import InvalidInputError
from cairn.local.repository import Repository
from cairn.workflow.model import Workflow, WorkflowInput

ZERO_SHA = "0" * 40
#: GitHub's rule for secret and variable names
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: GitHub's rule for input ids
_INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
#: events whose ``inputs`` context comes from the workflow's declared inputs
INPUT_EVENTS = ("workflow_dispatch", "workflow_call")
GITHUB_TOKEN = "GITHUB_TOKEN"


# -- K=V flags --------------------------------------------------------------


def parse_assignments(
    values: Iterable[str],
    flag: str,
    *,
    environ: Mapping[str, str] | None = None,
    inputs: bool = False,
) -> dict[str, str]:
    """``K=V`` flags as a dict. With ``environ``, a bare ``K`` takes its value
    from that environment (``--secret TOKEN`` reads ``$TOKEN``)."""
    result: dict[str, str] = {}
    pattern = _INPUT_NAME if inputs else _NAME
    for value in values:
        name, sep, text = value.partition("=")
        if not sep:
            if environ is None:
                raise InvalidInputError(f"{flag} {value!r}: expected NAME=VALUE")
            if name not in environ:
                raise InvalidInputError(
                    f"{flag} {name}: no value given and ${name} is not set in the environment"
                )
            text = environ[name]
        if not pattern.match(name):
            rule = "letters, digits, '_' and '-'" if inputs else "letters, digits and '_'"
            raise InvalidInputError(
                f"{flag} {value.partition('=')[0]!r}: a name is made of {rule} "
                "and does not start with a digit"
            )
        if not inputs and name.upper().startswith("GITHUB_") and not _is_token(flag, name):
            raise InvalidInputError(f"{flag} {name}: names starting with GITHUB_ are reserved")
        if name in result:
            raise InvalidInputError(f"{flag} {name} is given twice")
        result[name] = text
    return result


def _is_token(flag: str, name: str) -> bool:
    # on GitHub secrets.GITHUB_TOKEN is the one GITHUB_ secret, provided by
    # GitHub itself; locally it can only come from --secret
    return flag == "--secret" and name == GITHUB_TOKEN


def read_payload(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidInputError(f"cannot read payload {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"payload {path} is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidInputError(f"payload {path} must be a JSON object")
    return payload


# -- inputs -----------------------------------------------------------------


def declared_inputs(workflow: Workflow, event_name: str) -> dict[str, WorkflowInput]:
    if event_name == "workflow_dispatch":
        return workflow.on.dispatch_inputs
    if event_name == "workflow_call":
        return workflow.on.call_inputs
    return {}


def _typed(name: str, spec: WorkflowInput, raw: Any, where: str) -> Any:
    if spec.type == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text not in ("true", "false"):
            raise InvalidInputError(f"{where}: input {name!r} is a boolean, got {raw!r}")
        return text == "true"
    if spec.type == "number":
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return raw
        try:
            number = float(str(raw).strip())
        except ValueError:
            raise InvalidInputError(f"{where}: input {name!r} is a number, got {raw!r}") from None
        if not math.isfinite(number):
            raise InvalidInputError(f"{where}: input {name!r} is a number, got {raw!r}")
        return int(number) if number.is_integer() else number
    text = raw if isinstance(raw, str) else json.dumps(raw) if raw is not None else ""
    if spec.type == "choice" and text not in spec.options:
        choices = ", ".join(repr(o) for o in spec.options)
        raise InvalidInputError(f"{where}: input {name!r} must be one of {choices}, got {text!r}")
    return text


def resolve_inputs(workflow: Workflow, event_name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The ``inputs`` context of ``workflow``: given values (those it
    declares) and defaults, typed as declared. Booleans and numbers keep their
    type, as in GitHub's ``inputs`` context."""
    declared = declared_inputs(workflow, event_name)
    where = workflow.file
    resolved: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given:
            resolved[name] = _typed(name, spec, given[name], where)
        elif spec.default is not None:
            resolved[name] = _typed(name, spec, spec.default, where)
        elif spec.required:
            raise InvalidInputError(
                f"{where}: input {name!r} is required; give it with --input {name}=VALUE"
            )
        elif spec.type == "boolean":
            resolved[name] = False
        elif spec.type == "number":
            # an unset optional number has no value: left out (null in expressions)
            continue
        else:
            resolved[name] = ""
    return resolved


def event_inputs(inputs: Mapping[str, Any]) -> dict[str, str]:
    """``github.event.inputs``: every value as a string, as in the webhook."""
    return {
        name: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for name, value in inputs.items()
    }


# -- payloads ---------------------------------------------------------------


def repository_object(repo: Repository) -> dict[str, Any]:
    return {
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": {"login": repo.owner, "name": repo.owner},
        "default_branch": repo.default_branch,
        "html_url": f"{repo.server_url}/{repo.full_name}",
        "clone_url": f"{repo.server_url}/{repo.full_name}.git",
        "private": True,
    }


def _head_commit(repo: Repository) -> dict[str, Any] | None:
    if not repo.sha:
        return None
    name, email = repo.head_author
    person = {"name": name, "email": email}
    return {
        "id": repo.sha,
        "message": repo.head_message,
        "timestamp": repo.head_timestamp,
        "author": person,
        "committer": person,
        "url": f"{repo.server_url}/{repo.full_name}/commit/{repo.sha}",
    }


def default_payload(event_name: str, repo: Repository) -> dict[str, Any]:
    """A webhook-shaped payload for ``event_name`` made up from ``repo``."""
    common: dict[str, Any] = {
        "repository": repository_object(repo),
        "sender": {"login": repo.actor, "type": "User"},
    }
    if event_name == "push":
        head = _head_commit(repo)
        return {
            "ref": repo.ref,
            "before": ZERO_SHA,
            "after": repo.sha or ZERO_SHA,
            "created": False,
            "deleted": False,
            "forced": False,
            "base_ref": None,
            "commits": [head] if head else [],
            "head_commit": head,
            "pusher": {"name": repo.actor, "email": repo.head_author[1]},
            **common,
        }
    if event_name in ("pull_request", "pull_request_target"):
        number = 1
        return {
            "action": "opened",
            "number": number,
            "pull_request": {
                "number": number,
                "state": "open",
                "draft": False,
                "merged": False,
                "title": repo.head_message.splitlines()[0] if repo.head_message else "",
                "user": {"login": repo.actor},
                "head": {
                    "ref": repo.branch or repo.sha,
                    "sha": repo.sha,
                    "repo": repository_object(repo),
                },
                "base": {"ref": repo.default_branch, "repo": repository_object(repo)},
            },
            **common,
        }
    if event_name in INPUT_EVENTS:
        return {"ref": repo.ref, "inputs": {}, **common}
    return common


def _dig(payload: Mapping[str, Any], *keys: str) -> Any:
    value: Any = payload
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _ref_and_sha(event_name: str, payload: Mapping[str, Any], repo: Repository) -> dict[str, Any]:
    """``ref``, ``sha``, ``base_ref`` and ``head_ref`` as GitHub sets them per event."""
    ref, sha = repo.ref, repo.sha
    base_ref = head_ref = ""
    if event_name == "push":
        if isinstance(payload.get("ref"), str):
            ref = payload["ref"]
        after = payload.get("after")
        if isinstance(after, str) and after and after != ZERO_SHA:
            sha = after
    elif event_name in ("pull_request", "pull_request_target"):
        number = payload.get("number", _dig(payload, "pull_request", "number"))
        base_ref = str(_dig(payload, "pull_request", "base", "ref") or "")
        head_ref = str(_dig(payload, "pull_request", "head", "ref") or "")
        if event_name == "pull_request_target":
            ref = f"refs/heads/{base_ref}" if base_ref else ref
        elif number is not None:
            # GitHub runs the merge commit; locally there is none, so the head is run
            ref = f"refs/pull/{number}/merge"
        head_sha = _dig(payload, "pull_request", "head", "sha")
        if isinstance(head_sha, str) and head_sha and event_name == "pull_request":
            sha = head_sha
    elif event_name == "release":
        tag = _dig(payload, "release", "tag_name")
        if isinstance(tag, str) and tag:
            ref = f"refs/tags/{tag}"
    elif isinstance(payload.get("ref"), str) and payload["ref"]:
        ref = payload["ref"]
        if not ref.startswith("refs/"):
            ref = f"refs/heads/{ref}"
    return {"ref": ref, "sha": sha, "base_ref": base_ref, "head_ref": head_ref}


def _ref_name_and_type(ref: str) -> tuple[str, str]:
    if ref.startswith("refs/heads/"):
        return ref.removeprefix("refs/heads/"), "branch"
    if ref.startswith("refs/tags/"):
        return ref.removeprefix("refs/tags/"), "tag"
    if ref.startswith("refs/pull/"):
        return ref.removeprefix("refs/pull/"), "branch"
    return ref, ""


def _api_urls(server_url: str) -> tuple[str, str]:
    if server_url == "https://github.com":
        return "https://api.github.com", "https://api.github.com/graphql"
    return f"{server_url}/api/v3", f"{server_url}/api/graphql"


def github_context(
    *,
    event_name: str,
    payload: Mapping[str, Any],
    repo: Repository,
    workflow: Workflow,
    workflow_path: str,
    run_id: str,
    run_number: int,
) -> dict[str, Any]:
    """The ``github`` context of one workflow of the run (the engine adds
    ``job`` and ``run_attempt``, the runner ``workspace``, the file paths and
    ``token``). ``workflow_path`` is the workflow file relative to the
    repository. It never holds the token: this context is stored in the run's
    manifest, and secrets are never written to disk."""
    refs = _ref_and_sha(event_name, payload, repo)
    ref_name, ref_type = _ref_name_and_type(refs["ref"])
    api_url, graphql_url = _api_urls(repo.server_url)
    host = repo.server_url.split("://", 1)[-1]
    context: dict[str, Any] = {
        "event_name": event_name,
        "event": dict(payload),
        **refs,
        "ref_name": ref_name,
        "ref_type": ref_type,
        "ref_protected": False,
        "repository": repo.full_name,
        "repository_owner": repo.owner,
        "repositoryUrl": f"git://{host}/{repo.full_name}.git",
        "actor": repo.actor,
        "triggering_actor": repo.actor,
        "run_id": run_id,
        "run_number": str(run_number),
        "retention_days": "90",
        "server_url": repo.server_url,
        "api_url": api_url,
        "graphql_url": graphql_url,
        "workflow": workflow.name,
        "workflow_ref": f"{repo.full_name}/{workflow_path}@{refs['ref']}",
        "workflow_sha": refs["sha"],
        "secret_source": "Actions",
    }
    return context
