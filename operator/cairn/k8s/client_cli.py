"""``cairn cancel|retry|approve|rerun-failed``: wake the orchestrator by annotation.

Each command writes one annotation through the Kubernetes API with the user's
own kubeconfig (and so the user's own RBAC), exactly what ``kubectl annotate``
would write; the operator reacts to the annotation either way:

=========================  ===================================================
``cairn cancel RUN``       ``cairn.dev/cancel=<reason>`` on the CIRun
``cairn retry RUN JOB``    ``cairn.dev/retry=<job>`` on the run's CIWorkflow
``cairn approve RUN JOB``  ``cairn.dev/approve=<job>`` on the run's CIWorkflow
``cairn approve --reject`` ``cairn.dev/reject=<job>``: the job fails (approval_rejected)
``cairn rerun-failed RUN`` ``cairn.dev/rerun-failed=<timestamp>`` on the CIRun
=========================  ===================================================

``JOB`` is a job id or instance id (``build``, ``build.3``); in a run of several
workflows, name it ``WORKFLOW/JOB`` where WORKFLOW is the workflow file
(``ci.yml``), its stem (``ci``) or the CIWorkflow's name.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cairn.errors import CairnError
from cairn.k8s.resources import (
    ANNOTATION_APPROVE,
    ANNOTATION_CANCEL,
    ANNOTATION_REJECT,
    ANNOTATION_RERUN_FAILED,
    ANNOTATION_RETRY,
    CIRUN_PLURAL,
    CIWORKFLOW_PLURAL,
    GROUP,
    LABEL_RUN,
    VERSION,
)

DEFAULT_CANCEL_REASON = "cancelled with the cairn CLI"


class ClientCommandError(CairnError):
    """A ``cairn cancel|retry|approve|rerun-failed`` that cannot be carried out."""


@dataclass(frozen=True)
class Target:
    """One object to annotate."""

    plural: str
    name: str

    @property
    def display(self) -> str:
        return f"{self.plural[:-1]}.{GROUP}/{self.name}"


def configure(parser: argparse.ArgumentParser) -> None:
    command = parser.prog.split()[-1]
    parser.add_argument("run", metavar="RUN", help="the CIRun's name")
    if command in ("retry", "approve"):
        parser.add_argument("job", metavar="JOB", help="job id or instance id, or WORKFLOW/JOB")
    if command == "approve":
        parser.add_argument(
            "--reject",
            action="store_true",
            help="refuse: the job fails (approval_rejected); jobs that need it are skipped",
        )
    if command == "cancel":
        parser.add_argument("--reason", default=DEFAULT_CANCEL_REASON, help="why (recorded)")
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube)")
    parser.add_argument("--context", help="kubeconfig context")


def main(args: argparse.Namespace) -> int:
    try:
        api, namespace = _connect(args)
        target, annotation, value = _plan(api, namespace, args)
        _annotate(api, namespace, target, {annotation: value})
    except ClientCommandError as exc:
        print(f"cairn {args.command}: {exc}", file=sys.stderr)
        return 1
    print(f"{target.display} annotated {annotation}={value}")
    return 0


def _connect(args: argparse.Namespace) -> tuple[Any, str]:
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        api_client = config.new_client_from_config(
            config_file=args.kubeconfig, context=args.context
        )
        namespace = args.namespace
        if namespace is None:
            contexts, active = config.list_kube_config_contexts(config_file=args.kubeconfig)
            chosen = next((c for c in contexts if c["name"] == args.context), active)
            namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
    except (ConfigException, OSError) as exc:
        raise ClientCommandError(f"cannot load the kubeconfig: {exc}") from None
    return client.CustomObjectsApi(api_client), namespace


def _plan(api: Any, namespace: str, args: argparse.Namespace) -> tuple[Target, str, str]:
    run = Target(CIRUN_PLURAL, args.run)
    if args.command == "cancel":
        _get(api, namespace, run)
        return run, ANNOTATION_CANCEL, args.reason
    if args.command == "rerun-failed":
        _get(api, namespace, run)
        # a new value each time, so a second re-run is a change the operator sees
        return run, ANNOTATION_RERUN_FAILED, datetime.now(UTC).isoformat(timespec="microseconds")
    annotation = request_annotation(args)
    workflow, job = _resolve_job(api, namespace, args.run, args.job)
    return Target(CIWORKFLOW_PLURAL, workflow), annotation, job


def request_annotation(args: argparse.Namespace) -> str:
    """The annotation a ``retry`` or ``approve [--reject]`` writes on the CIWorkflow."""
    if args.command == "retry":
        return ANNOTATION_RETRY
    return ANNOTATION_REJECT if getattr(args, "reject", False) else ANNOTATION_APPROVE


def _resolve_job(api: Any, namespace: str, run: str, job_arg: str) -> tuple[str, str]:
    """(CIWorkflow name, job) for ``JOB`` or ``WORKFLOW/JOB`` in ``run``."""
    wanted_workflow, _, job = job_arg.rpartition("/")
    if not job:
        raise ClientCommandError(f"{job_arg!r}: name a job (JOB or WORKFLOW/JOB)")
    workflows = _list(api, namespace, CIWORKFLOW_PLURAL, f"{LABEL_RUN}={run}")
    if not workflows:
        _get(api, namespace, Target(CIRUN_PLURAL, run))
        raise ClientCommandError(f"run {run} has no workflows yet")
    if wanted_workflow:
        workflows = [w for w in workflows if wanted_workflow in _workflow_names(w)]
        if not workflows:
            raise ClientCommandError(f"run {run} has no workflow {wanted_workflow!r}")
    if len(workflows) > 1:
        files = ", ".join(sorted(_file_of(w) for w in workflows))
        raise ClientCommandError(
            f"run {run} has several workflows ({files}): name the job as WORKFLOW/JOB"
        )
    (workflow,) = workflows
    known = _job_ids(workflow)
    if known is not None and job not in known:
        raise ClientCommandError(
            f"workflow {_file_of(workflow)} of run {run} has no job {job!r}"
            f" (jobs: {', '.join(sorted(known))})"
        )
    return str(workflow["metadata"]["name"]), job


def _file_of(workflow: dict[str, Any]) -> str:
    return str((workflow.get("spec") or {}).get("file") or workflow["metadata"]["name"])


def _workflow_names(workflow: dict[str, Any]) -> set[str]:
    file = _file_of(workflow)
    return {workflow["metadata"]["name"], file, file.rsplit("/", 1)[-1].split(".", 1)[0]}


def _job_ids(workflow: dict[str, Any]) -> set[str] | None:
    """Job and instance ids of the workflow's plan; None when the spec has none."""
    plan = ((workflow.get("spec") or {}).get("workflowRun") or {}).get("plan") or {}
    instances = plan.get("instances")
    if not isinstance(instances, list):
        return None
    ids: set[str] = set()
    for instance in instances:
        if isinstance(instance, dict):
            ids.update(str(instance[k]) for k in ("id", "job_id") if k in instance)
    return ids


def _api_failures() -> tuple[type[Exception], ...]:
    """What a call through the official client raises when the API refuses or is away."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    return (ApiException, urllib3.exceptions.HTTPError, OSError)


def _api_error(exc: Exception, what: str, namespace: str) -> ClientCommandError:
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        if exc.status == 404:
            return ClientCommandError(f"{what} not found in namespace {namespace}")
        if exc.status == 403:
            return ClientCommandError(f"forbidden: your account may not do this to {what}")
        return ClientCommandError(f"{what}: the API answered {exc.status} {exc.reason}")
    return ClientCommandError(f"cannot reach the Kubernetes API: {exc}")


def _get(api: Any, namespace: str, target: Target) -> dict[str, Any]:
    try:
        obj: dict[str, Any] = api.get_namespaced_custom_object(
            GROUP, VERSION, namespace, target.plural, target.name
        )
    except _api_failures() as exc:
        raise _api_error(exc, target.display, namespace) from None
    return obj


def _list(api: Any, namespace: str, plural: str, selector: str) -> list[dict[str, Any]]:
    try:
        answer = api.list_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, label_selector=selector
        )
    except _api_failures() as exc:
        raise _api_error(exc, plural, namespace) from None
    return list(answer.get("items") or [])


def _annotate(api: Any, namespace: str, target: Target, annotations: dict[str, str]) -> None:
    try:
        api.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            target.plural,
            target.name,
            {"metadata": {"annotations": annotations}},
        )
    except _api_failures() as exc:
        raise _api_error(exc, target.display, namespace) from None
