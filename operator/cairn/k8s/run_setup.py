"""A CIRun's one-time setup: compile its workflow files, pick the triggered
ones, and describe the CIWorkflow of each. Pure: the source is resolved and
the objects are created by the caller (``runs.py``).

Decisions worth knowing:

- Workflow files are compiled as ``<source path>/<name>`` (inline ones as
  ``.github/workflows/<name>``), so diagnostics read ``path:line:col`` the way
  a developer finds the file in the repository.
- An invalid file does not stop the valid ones, as on GitHub: they run, and
  the run reports the invalid file and ends ``Failed``.
- ``secrets`` a workflow names (``${{ secrets.NAME }}``) are the only keys of
  the run's Secret a sandbox gets; the operator never reads their values.
  A secret named only dynamically (``secrets[format(...)]``) is not found by
  this scan and reads as empty, as a missing secret does on GitHub.
- ``token_seed`` is the one random value of a run, drawn by the caller once;
  a repeated create after a crash keeps the first object and so its seed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cairn.engine.run import WorkflowRun
from cairn.k8s import names, resources, tokens
from cairn.k8s.environments import protected_for_plan
from cairn.k8s.resources import CIRunSpec, CIWorkflowSpec
from cairn.k8s.source import WorkflowFile
from cairn.workflow import WorkflowError, compile_plan, explain_trigger, parse_workflow
from cairn.workflow.errors import MatrixError
from cairn.workflow.model import Plan, Workflow

DEFAULT_WORKFLOW_DIR = ".github/workflows"
GITHUB_SERVER = "https://github.com"

_SECRET_DOT = re.compile(r"\bsecrets\.([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_SECRET_INDEX = re.compile(r"\bsecrets\[\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*\]", re.IGNORECASE)
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


@dataclass(frozen=True)
class CompiledWorkflow:
    file: WorkflowFile
    #: the path the file was compiled as (``.github/workflows/ci.yml``)
    path: str
    plan: Plan


@dataclass(frozen=True)
class InvalidFile:
    file: WorkflowFile
    path: str
    message: str


@dataclass(frozen=True)
class RunSetup:
    triggered: tuple[CompiledWorkflow, ...]
    #: (file name, why not)
    not_triggered: tuple[tuple[str, str], ...]
    invalid: tuple[InvalidFile, ...]


def compiled_path(spec: CIRunSpec, file: WorkflowFile) -> str:
    if spec.source is not None:
        return file.path
    return f"{DEFAULT_WORKFLOW_DIR}/{file.name}"


def compile_workflows(spec: CIRunSpec, files: Iterable[WorkflowFile]) -> RunSetup:
    """Compile every file and keep the ones ``spec.event`` triggers."""
    triggered: list[CompiledWorkflow] = []
    skipped: list[tuple[str, str]] = []
    invalid: list[InvalidFile] = []
    for file in files:
        path = compiled_path(spec, file)
        try:
            workflow = parse_workflow(file.content, path)
            plan = compile_plan(workflow)
        except WorkflowError as error:
            invalid.append(InvalidFile(file, path, str(error)))
            continue
        except MatrixError as error:
            invalid.append(InvalidFile(file, path, f"{path}: {error}"))
            continue
        decision = explain_trigger(workflow, spec.event.name, spec.event.payload)
        if decision.triggered:
            triggered.append(CompiledWorkflow(file, path, plan))
        else:
            skipped.append((file.name, decision.reason))
    return RunSetup(tuple(triggered), tuple(skipped), tuple(invalid))


def secret_names(workflow: Workflow) -> tuple[str, ...]:
    """Names of the secrets a workflow refers to by name."""
    found: set[str] = set()
    for text in _strings(workflow.model_dump(mode="json", by_alias=True, exclude_defaults=True)):
        if "${{" not in text:
            continue
        for expression in _EXPRESSION.findall(text):
            found.update(_SECRET_DOT.findall(expression))
            found.update(_SECRET_INDEX.findall(expression))
    return tuple(sorted(found))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


# --- the github context -----------------------------------------------------------------


def _get(payload: Mapping[str, Any], *path: str) -> Any:
    value: Any = payload
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def run_id(run_uid: str) -> str:
    """A stable numeric ``github.run_id`` for a CIRun (from its uid)."""
    return str(int(hashlib.sha256(run_uid.encode()).hexdigest()[:12], 16) % 10**10)


def github_context(
    spec: CIRunSpec, compiled: CompiledWorkflow, *, run_uid: str, run_number: int
) -> dict[str, Any]:
    """The ``github`` context of one workflow of a run, from its event and source
    (``run_number``: allocated by ``run_numbers``, or ``spec.runNumber``)."""
    event, payload = spec.event.name, spec.event.payload
    source = spec.source
    pull = _get(payload, "pull_request")
    sha = (
        (source.sha if source is not None else None)
        or (_get(pull, "head", "sha") if pull else None)
        or _get(payload, "after")
        or _get(payload, "sha")
    )
    ref = (source.ref if source is not None else None) or _get(payload, "ref")
    if not ref and isinstance(pull, Mapping) and pull.get("number") is not None:
        ref = f"refs/pull/{pull['number']}/merge"
    repository = _get(payload, "repository", "full_name")
    owner = _get(payload, "repository", "owner", "login")
    if owner is None and isinstance(repository, str) and "/" in repository:
        owner = repository.split("/")[0]
    html_url = _get(payload, "repository", "html_url")
    server = GITHUB_SERVER
    if isinstance(html_url, str) and html_url.startswith(("http://", "https://")):
        parts = urlsplit(html_url)
        server = f"{parts.scheme}://{parts.netloc}"
    on_github = server == GITHUB_SERVER
    context: dict[str, Any] = {
        "event_name": event,
        "event": payload,
        "sha": sha,
        "ref": ref,
        "repository": repository,
        "repository_id": _text(_get(payload, "repository", "id")),
        "repository_owner": _get(payload, "repository", "owner", "login")
        or (
            repository.split("/")[0] if isinstance(repository, str) and "/" in repository else None
        ),
        "repository_owner_id": _text(_get(payload, "repository", "owner", "id")),
        "actor": _get(payload, "sender", "login"),
        "actor_id": _text(_get(payload, "sender", "id")),
        "triggering_actor": _get(payload, "sender", "login"),
        "server_url": server,
        "api_url": "https://api.github.com" if on_github else f"{server}/api/v3",
        "graphql_url": "https://api.github.com/graphql" if on_github else f"{server}/api/graphql",
        "workflow": compiled.plan.workflow.name,
        "workflow_sha": sha,
        "run_id": run_id(run_uid),
        "run_number": str(run_number),
        "retention_days": "90",
    }
    if isinstance(ref, str):
        if ref.startswith("refs/heads/"):
            context.update(ref_name=ref[len("refs/heads/") :], ref_type="branch")
        elif ref.startswith("refs/tags/"):
            context.update(ref_name=ref[len("refs/tags/") :], ref_type="tag")
        else:
            context["ref_name"] = ref.removeprefix("refs/")
        if repository:
            context["workflow_ref"] = f"{repository}/{compiled.path}@{ref}"
    if isinstance(pull, Mapping):
        context["base_ref"] = _get(pull, "base", "ref")
        context["head_ref"] = _get(pull, "head", "ref")
    return {key: value for key, value in context.items() if value is not None}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# --- the CIWorkflow object ------------------------------------------------------------


def workflow_object(
    run: Mapping[str, Any],
    spec: CIRunSpec,
    compiled: CompiledWorkflow,
    *,
    token_seed: str,
    run_number: int,
    protected_environments: tuple[str, ...],
) -> dict[str, Any]:
    """The CIWorkflow of one triggered workflow: deterministic name, owned by the run.

    ``protected_environments`` are the operator-wide ones; the run's own
    ``spec.protectedEnvironments`` are added to them, never subtracted."""
    meta = run["metadata"]
    namespace, run_name, run_uid = meta["namespace"], meta["name"], meta["uid"]
    name = names.workflow_name(run_name, compiled.file.name)
    workflow = compiled.plan.workflow
    workflow_run = WorkflowRun(
        name=f"{namespace}/{name}",
        plan=compiled.plan,
        github=github_context(spec, compiled, run_uid=run_uid, run_number=run_number),
        inputs=dict(spec.inputs),
        vars=dict(spec.vars),
        secret_names=secret_names(workflow) if spec.secrets is not None else (),
        token_seed=token_seed,
        protected_environments=protected_for_plan(
            protected_environments, spec.protected_environments, compiled.plan
        ),
    )
    body = CIWorkflowSpec(
        run=run_name,
        file=compiled.file.name,
        secret_name=spec.secrets.name if spec.secrets is not None else None,
        workflow_run=workflow_run,
    )
    return {
        "apiVersion": resources.API_VERSION,
        "kind": resources.CIWORKFLOW_KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                resources.LABEL_MANAGED_BY: resources.MANAGED_BY,
                resources.LABEL_RUN: names.label_value(run_name),
                resources.LABEL_CALLBACK_KEY: tokens.callback_key(namespace, name),
            },
            "ownerReferences": [
                {
                    "apiVersion": resources.API_VERSION,
                    "kind": resources.CIRUN_KIND,
                    "name": run_name,
                    "uid": run_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": body.model_dump(mode="json", by_alias=True, exclude_defaults=True),
    }
