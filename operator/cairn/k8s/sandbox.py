"""Rendering a job attempt's sandbox: the Job, its spec ConfigMap, its callback Secret.

Pure functions from (JobSpec, RunnerClass, workflow identity, settings) to
manifests as plain dicts; the operator sends them to the API server. Choices,
and why:

- **The JobSpec travels in a ConfigMap owned by the Job**, so it is garbage
  collected with the Job (``ttlSecondsAfterFinished``) rather than piling up
  under a long CIWorkflow. The Job is created first; the ConfigMap and Secret
  follow with an ownerReference to the Job's uid (``owned_by_job``). The pod
  mounts them by name and the kubelet waits for them, so the order costs
  nothing in practice, and a crash in between is repaired by the next wake
  (every create is idempotent by name). The spec is size-checked against the
  1 MiB ConfigMap limit before anything is created.
- **The callback secret** (``tokens.callback_secret``) goes into a Secret of
  its own per attempt, mounted as a file only into that attempt's pod. A
  ConfigMap would be readable by anyone allowed to read ConfigMaps in the
  namespace, and an env value would sit in the Job spec. The file is readable
  by the job's own steps, by design: they are the attempt it authenticates.
- **Run secrets** (the CIRun's Secret) are mounted by name as a volume holding
  only the keys the job references (``JobSpec.secret_names``), marked
  ``optional`` so a missing key is an empty secret, as on GitHub. The operator
  never reads secret values; ``services``/``container`` env entries that are
  exactly ``${{ secrets.NAME }}`` become ``secretKeyRef`` references.
- **Hardening**: non-root, no privilege escalation, all capabilities dropped,
  seccomp ``RuntimeDefault``, no service-account token, no service links,
  ``backoffLimit: 0`` (retries are the orchestrator's, as new attempts).
- **``services:``** are native sidecars (init containers with ``restartPolicy:
  Always``, Kubernetes ≥ 1.29): they start before the steps, Docker's
  ``--health-*`` options become a startup probe the steps wait for, and they
  stop when the steps are done. Containers of a pod share the network, so a
  service answers on ``localhost:<port>`` and, through ``hostAliases``, on
  its service name (``redis:6379``) as in a GitHub container job.
- **Job ``container:``**: the steps run in the user's image. An init container
  from the Cairn image copies the runner's self-contained Python runtime
  (``/opt/cairn``) into a shared emptyDir mounted at the same path in the
  user's container. The image needs ``/bin/sh`` and a glibc-based Linux
  userland (glibc ≥ 2.31: Debian 11+, Ubuntu 20.04+, RHEL 9+); Alpine
  (musl) images are not supported. A RunnerClass with ``injectRunner`` gets
  the same treatment for its own non-Cairn image.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cairn.engine.jobspec import JobSpec
from cairn.errors import CairnError
from cairn.k8s import names, resources, tokens
from cairn.k8s.runnerclass import Resources, RunnerClass
from cairn.k8s.settings import OperatorSettings
from cairn.workflow.model import Container

#: Evaluates a ``${{ }}`` template with the contexts known before the sandbox
#: starts (``github``, ``needs``, ``matrix``, ``strategy``, ``inputs``, ``vars``).
TemplateEvaluator = Callable[[str], str]

RUNTIME_DIR = "/opt/cairn"
RUNNER = f"{RUNTIME_DIR}/bin/cairn"
SPEC_DIR = "/cairn/spec"
SPEC_KEY = "spec.json"
SECRETS_DIR = "/cairn/secrets"
CALLBACK_DIR = "/cairn/callback"
CALLBACK_SECRET_KEY = "secret"
WORKSPACE_DIR = "/cairn/workspace"
HOME_DIR = "/cairn/home"
TERMINATION_LOG = "/dev/termination-log"
#: Where the init container sees the runtime emptyDir while copying into it.
RUNTIME_STAGING_DIR = "/cairn/runtime"

RUNNER_CONTAINER = "runner"
RUNTIME_CONTAINER = "cairn-runtime"

ENV_CALLBACK_URL = "CAIRN_CALLBACK_URL"
ENV_CALLBACK_TOKEN = "CAIRN_CALLBACK_TOKEN"
ENV_CALLBACK_SECRET_FILE = "CAIRN_CALLBACK_SECRET_FILE"
#: Tells the runner it runs in a Kubernetes sandbox, and in which job container.
ENV_SANDBOX = "CAIRN_SANDBOX"
ENV_JOB_CONTAINER = "CAIRN_JOB_CONTAINER"

#: Capabilities a root service container keeps: enough for entrypoints that
#: chown their data directory and switch to their own user (postgres, redis).
ROOT_SERVICE_CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID")

_RUNTIME_COPY_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "64Mi"},
    "limits": {"cpu": "1", "memory": "256Mi"},
}

_SECRET_REFERENCE = re.compile(
    r"^\s*\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*$", re.IGNORECASE
)
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_SECRETS_CONTEXT = re.compile(r"\bsecrets\b", re.IGNORECASE)
_PORT = re.compile(r"^(?:(?P<host>\d+):)?(?P<container>\d+)(?:/(?P<proto>tcp|udp))?$", re.I)
_HOSTNAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_HEALTH_OPTIONS = {
    "--health-cmd",
    "--health-interval",
    "--health-timeout",
    "--health-retries",
    "--health-start-period",
}


class SandboxError(CairnError):
    """A job attempt that cannot be turned into a sandbox."""


class SpecTooLargeError(SandboxError):
    """The JobSpec does not fit in a ConfigMap."""


class UnsupportedSandboxFeatureError(SandboxError):
    """The job uses a feature Cairn's Kubernetes sandboxes do not offer."""


@dataclass(frozen=True)
class WorkflowIdentity:
    """Where an attempt belongs: the CIWorkflow that owns its Job."""

    namespace: str
    run_name: str
    workflow_name: str
    workflow_uid: str
    #: the CIRun's Secret (``spec.secrets.name``), if it names one
    secret_name: str | None = None

    @classmethod
    def from_object(cls, ciworkflow: Mapping[str, Any]) -> WorkflowIdentity:
        """The identity of a CIWorkflow API object (as the API server returned it)."""
        metadata = ciworkflow.get("metadata") or {}
        spec = ciworkflow.get("spec") or {}
        missing = [
            field
            for field, value in (
                ("metadata.namespace", metadata.get("namespace")),
                ("metadata.name", metadata.get("name")),
                ("metadata.uid", metadata.get("uid")),
                ("spec.run", spec.get("run")),
            )
            if not value
        ]
        if missing:
            raise SandboxError(f"a CIWorkflow object without {', '.join(missing)}")
        return cls(
            namespace=metadata["namespace"],
            run_name=spec["run"],
            workflow_name=metadata["name"],
            workflow_uid=metadata["uid"],
            secret_name=spec.get("secretName") or None,
        )


@dataclass(frozen=True)
class Sandbox:
    """The manifests of one attempt. Create ``job`` first, then
    ``owned_by_job(job uid)``: the ConfigMap and (when callbacks are on) the Secret."""

    job: dict[str, Any]
    spec_config_map: dict[str, Any]
    callback_secret: dict[str, Any] | None

    @property
    def name(self) -> str:
        name: str = self.job["metadata"]["name"]
        return name

    def owned_by_job(self, job_uid: str) -> list[dict[str, Any]]:
        """The Job's companions with an ownerReference to the created Job."""
        owner = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": self.name,
            "uid": job_uid,
            "controller": True,
        }
        owned = []
        for manifest in (self.spec_config_map, self.callback_secret):
            if manifest is not None:
                metadata = {**manifest["metadata"], "ownerReferences": [owner]}
                owned.append({**manifest, "metadata": metadata})
        return owned


def render_sandbox(
    spec: JobSpec,
    runner_class: RunnerClass,
    identity: WorkflowIdentity,
    settings: OperatorSettings,
    *,
    operator_key: bytes | None = None,
    evaluate: TemplateEvaluator | None = None,
) -> Sandbox:
    """The manifests of ``spec``'s attempt on ``runner_class``.

    ``operator_key`` signs the callback secret; it is required when
    ``settings.callback_base_url`` is set. ``evaluate`` renders ``${{ }}`` in
    ``container``/``services`` (image, env); by default the JobSpec's own
    contexts are used (``contexts_evaluator``).
    """
    if evaluate is None:
        evaluate = contexts_evaluator(spec)
    job_name = names.job_name(identity.workflow_name, spec.instance_id, spec.attempt)
    labels = sandbox_labels(spec, identity)
    config_map = _spec_config_map(spec, job_name, identity, labels, settings)
    callback = _callback(spec, job_name, identity, labels, settings, operator_key)
    pod = _pod_spec(spec, job_name, runner_class, identity, settings, evaluate, callback)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": identity.namespace,
            "labels": labels,
            "annotations": _annotations(spec, runner_class),
            "ownerReferences": [
                {
                    "apiVersion": resources.API_VERSION,
                    "kind": "CIWorkflow",
                    "name": identity.workflow_name,
                    "uid": identity.workflow_uid,
                    "controller": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": active_deadline_seconds(spec, settings),
            "ttlSecondsAfterFinished": settings.job_ttl_seconds,
            "template": {
                "metadata": {"labels": labels, "annotations": _annotations(spec, runner_class)},
                "spec": pod,
            },
        },
    }
    return Sandbox(
        job=job,
        spec_config_map=config_map,
        callback_secret=callback.secret if callback else None,
    )


def contexts_evaluator(spec: JobSpec) -> TemplateEvaluator:
    """Renders templates with ``spec.contexts`` through ``cairn.expr``."""

    def evaluate(template: str) -> str:
        from cairn.expr import ExpressionError, parse_template

        try:
            rendered: str = parse_template(template).render(spec.contexts)
        except ExpressionError as error:
            raise SandboxError(f"cannot evaluate {template!r}: {error}") from None
        return rendered

    return evaluate


def sandbox_labels(spec: JobSpec, identity: WorkflowIdentity) -> dict[str, str]:
    """Labels of the Job, its pod and companions: the operator selects by them."""
    return {
        resources.LABEL_MANAGED_BY: resources.MANAGED_BY,
        resources.LABEL_RUN: names.label_value(identity.run_name),
        resources.LABEL_WORKFLOW: names.label_value(identity.workflow_name),
        resources.LABEL_JOB: names.label_value(spec.job.id),
        resources.LABEL_INSTANCE_HASH: names.label_value(spec.instance_id),
        resources.LABEL_ATTEMPT: str(spec.attempt),
    }


def active_deadline_seconds(spec: JobSpec, settings: OperatorSettings) -> int:
    """The job's ``timeout-minutes`` plus a grace for the runner to report."""
    if not spec.timeout_minutes > 0 or math.isinf(spec.timeout_minutes):
        raise SandboxError(f"timeout-minutes must be a positive number, got {spec.timeout_minutes}")
    return math.ceil(spec.timeout_minutes * 60) + settings.deadline_grace_seconds


def _annotations(spec: JobSpec, runner_class: RunnerClass) -> dict[str, str]:
    return {
        resources.ANNOTATION_INSTANCE_ID: spec.instance_id,
        resources.ANNOTATION_RUNNER_CLASS: runner_class.name,
    }


# --- companions ---------------------------------------------------------------------


def _spec_config_map(
    spec: JobSpec,
    job_name: str,
    identity: WorkflowIdentity,
    labels: dict[str, str],
    settings: OperatorSettings,
) -> dict[str, Any]:
    payload = spec.model_dump_json(by_alias=True)
    size = len(SPEC_KEY) + len(payload.encode())
    if size > settings.max_spec_bytes:
        raise SpecTooLargeError(
            f"the job spec of {spec.instance_id} is {size} bytes, over the "
            f"{settings.max_spec_bytes}-byte limit of a ConfigMap; the event payload, "
            "matrix values or needs outputs passed to the job are too large"
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": names.spec_configmap_name(job_name),
            "namespace": identity.namespace,
            "labels": labels,
        },
        "immutable": True,
        "data": {SPEC_KEY: payload},
    }


@dataclass(frozen=True)
class _Callback:
    url: str
    token: str
    secret: dict[str, Any]


def _callback(
    spec: JobSpec,
    job_name: str,
    identity: WorkflowIdentity,
    labels: dict[str, str],
    settings: OperatorSettings,
    operator_key: bytes | None,
) -> _Callback | None:
    if settings.callback_base_url is None:
        return None
    if not operator_key:
        raise SandboxError("callbacks are configured but no operator key was given")
    key = tokens.callback_key(identity.namespace, identity.workflow_name)
    token = tokens.public_token(key, spec.callback_token)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": names.callback_secret_name(job_name),
            "namespace": identity.namespace,
            "labels": labels,
        },
        "type": "Opaque",
        "immutable": True,
        "stringData": {CALLBACK_SECRET_KEY: tokens.callback_secret(operator_key, token)},
    }
    url = f"{settings.callback_base_url.rstrip('/')}/callbacks/{token}"
    return _Callback(url=url, token=token, secret=secret)


# --- the pod ------------------------------------------------------------------------


def _pod_spec(
    spec: JobSpec,
    job_name: str,
    runner_class: RunnerClass,
    identity: WorkflowIdentity,
    settings: OperatorSettings,
    evaluate: TemplateEvaluator,
    callback: _Callback | None,
) -> dict[str, Any]:
    values = _Values(evaluate, identity.secret_name)
    job_container = spec.job.container
    image = values.text(job_container.image, "container.image") if job_container else ""
    # GitHub runs a job whose container image evaluates to "" on the host.
    in_container = bool(image.strip())
    inject = in_container or runner_class.spec.inject_runner
    spc = runner_class.spec

    volumes: list[dict[str, Any]] = [
        {
            "name": "spec",
            "configMap": {
                "name": names.spec_configmap_name(job_name),
                "items": [{"key": SPEC_KEY, "path": SPEC_KEY}],
            },
        },
        _secrets_volume(spec, identity),
        {"name": "workspace", "emptyDir": {}},
        {"name": "home", "emptyDir": {}},
    ]
    mounts = [
        {"name": "spec", "mountPath": SPEC_DIR, "readOnly": True},
        {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True},
        {"name": "workspace", "mountPath": WORKSPACE_DIR},
        {"name": "home", "mountPath": HOME_DIR},
    ]
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": HOME_DIR},
        {"name": ENV_SANDBOX, "value": "kubernetes"},
    ]
    if callback is not None:
        volumes.append(
            {
                "name": "callback",
                "secret": {
                    "secretName": callback.secret["metadata"]["name"],
                    "items": [{"key": CALLBACK_SECRET_KEY, "path": CALLBACK_SECRET_KEY}],
                    "defaultMode": 0o440,
                },
            }
        )
        mounts.append({"name": "callback", "mountPath": CALLBACK_DIR, "readOnly": True})
        env += [
            {"name": ENV_CALLBACK_URL, "value": callback.url},
            {"name": ENV_CALLBACK_TOKEN, "value": callback.token},
            {"name": ENV_CALLBACK_SECRET_FILE, "value": f"{CALLBACK_DIR}/{CALLBACK_SECRET_KEY}"},
        ]
    env += [{"name": e.name, "value": e.value} for e in spc.env]

    init_containers: list[dict[str, Any]] = []
    if inject:
        volumes.append({"name": "runtime", "emptyDir": {}})
        init_containers.append(_runtime_copier(settings))
        mounts.append({"name": "runtime", "mountPath": RUNTIME_DIR, "readOnly": True})

    runner: dict[str, Any] = {
        "name": RUNNER_CONTAINER,
        "command": [
            RUNNER,
            "runner",
            "--spec",
            f"{SPEC_DIR}/{SPEC_KEY}",
            "--result",
            TERMINATION_LOG,
            "--secrets-dir",
            SECRETS_DIR,
            "--workspace",
            WORKSPACE_DIR,
        ],
        "workingDir": WORKSPACE_DIR,
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "securityContext": _restricted_container(),
        "resources": _resources(spc.resources, settings),
        "volumeMounts": mounts,
    }
    if in_container and job_container is not None:
        _check_container_options(job_container, "container")
        runner["image"] = image
        runner["imagePullPolicy"] = "IfNotPresent"
        env.append({"name": ENV_JOB_CONTAINER, "value": image})
        env += values.env(job_container.env, "container.env")
        ports = _ports(job_container.ports, "container")
        if ports:
            runner["ports"] = ports
    else:
        runner["image"] = runner_class.image(settings)
        runner["imagePullPolicy"] = runner_class.image_pull_policy(settings)
    runner["env"] = env

    services = [
        _service(
            service_id,
            service,
            spc.services.resources or spc.resources,
            runner_class,
            values,
            settings,
        )
        for service_id, service in spec.job.services.items()
    ]
    init_containers += services

    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": settings.termination_grace_seconds,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": spc.run_as_user,
            "runAsGroup": spc.run_as_group,
            "fsGroup": spc.fs_group,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [runner],
        "volumes": volumes,
    }
    if init_containers:
        pod["initContainers"] = init_containers
    if spec.job.services:
        pod["hostAliases"] = [{"ip": "127.0.0.1", "hostnames": _service_hostnames(spec)}]
    if spc.service_account_name:
        pod["serviceAccountName"] = spc.service_account_name
    if spc.node_selector:
        pod["nodeSelector"] = dict(spc.node_selector)
    if spc.tolerations:
        pod["tolerations"] = [
            t.model_dump(by_alias=True, exclude_none=True) for t in spc.tolerations
        ]
    if spc.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": n} for n in spc.image_pull_secrets]
    return pod


def _secrets_volume(spec: JobSpec, identity: WorkflowIdentity) -> dict[str, Any]:
    if identity.secret_name is None or not spec.secret_names:
        # An empty ``items`` would project every key, so no secrets means no Secret.
        return {"name": "secrets", "emptyDir": {}}
    return {
        "name": "secrets",
        "secret": {
            "secretName": identity.secret_name,
            "optional": True,
            "items": [{"key": n, "path": n} for n in sorted(set(spec.secret_names))],
            "defaultMode": 0o440,
        },
    }


def _runtime_copier(settings: OperatorSettings) -> dict[str, Any]:
    return {
        "name": RUNTIME_CONTAINER,
        "image": settings.runner_image,
        "imagePullPolicy": settings.runner_image_pull_policy,
        "command": ["/bin/sh", "-c", f"cp -a {RUNTIME_DIR}/. {RUNTIME_STAGING_DIR}/"],
        "securityContext": _restricted_container(),
        "resources": _RUNTIME_COPY_RESOURCES,
        "volumeMounts": [{"name": "runtime", "mountPath": RUNTIME_STAGING_DIR}],
    }


def _restricted_container() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }


def _resources(resources_: Resources, settings: OperatorSettings) -> dict[str, Any]:
    if resources_.empty:
        return {
            "requests": {
                "cpu": settings.default_cpu_request,
                "memory": settings.default_memory_request,
            },
            "limits": {"cpu": settings.default_cpu_limit, "memory": settings.default_memory_limit},
        }
    out: dict[str, Any] = {}
    if resources_.requests:
        out["requests"] = dict(resources_.requests)
    if resources_.limits:
        out["limits"] = dict(resources_.limits)
    return out


# --- services -----------------------------------------------------------------------


def service_container_name(service_id: str) -> str:
    candidate = f"svc-{service_id}"
    return candidate if names.is_dns_label(candidate) else names.dns_label(["svc", service_id])


def _service_hostnames(spec: JobSpec) -> list[str]:
    hostnames = []
    for service_id in spec.job.services:
        hostname = service_id.lower()
        if not _HOSTNAME.match(hostname) or len(hostname) > names.MAX_NAME_LENGTH:
            raise UnsupportedSandboxFeatureError(
                f"service {service_id!r}: its id is the service's hostname, and Kubernetes "
                "only accepts DNS-1123 labels (letters, digits, '-'); rename the service"
            )
        hostnames.append(hostname)
    return sorted(set(hostnames))


def _service(
    service_id: str,
    service: Container,
    resources_: Resources,
    runner_class: RunnerClass,
    values: _Values,
    settings: OperatorSettings,
) -> dict[str, Any]:
    where = f"services.{service_id}"
    image = values.text(service.image, f"{where}.image").strip()
    if not image:
        raise SandboxError(f"{where}.image evaluates to an empty string")
    if service.credentials:
        raise UnsupportedSandboxFeatureError(
            f"{where}.credentials: registry credentials are not supported; give the "
            "RunnerClass imagePullSecrets instead"
        )
    if service.volumes:
        raise UnsupportedSandboxFeatureError(f"{where}.volumes: service volumes are not supported")
    probe = _health_probe(service.options, where)
    security = _restricted_container()
    if runner_class.spec.services.allow_root:
        security = {
            **security,
            "runAsNonRoot": False,
            "runAsUser": 0,
            "runAsGroup": 0,
            "capabilities": {"drop": ["ALL"], "add": list(ROOT_SERVICE_CAPABILITIES)},
        }
    container: dict[str, Any] = {
        "name": service_container_name(service_id),
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        # restartPolicy Always on an init container makes it a native sidecar.
        "restartPolicy": "Always",
        "env": values.env(service.env, f"{where}.env"),
        "securityContext": security,
        "resources": _resources(resources_, settings),
    }
    ports = _ports(service.ports, where)
    if ports:
        container["ports"] = ports
    if probe is not None:
        container["startupProbe"] = probe
    return container


def _ports(specs: tuple[str, ...], where: str) -> list[dict[str, Any]]:
    ports = []
    for raw in specs:
        match = _PORT.match(str(raw).strip())
        if match is None:
            raise UnsupportedSandboxFeatureError(
                f"{where}.ports: {raw!r} is not supported (use PORT or PORT:PORT, "
                "optionally /tcp or /udp)"
            )
        container_port = int(match["container"])
        if match["host"] is not None and int(match["host"]) != container_port:
            raise UnsupportedSandboxFeatureError(
                f"{where}.ports: {raw!r} maps port {match['host']} to {container_port}; in a "
                "pod, services are reached on their own port, so both sides must be equal"
            )
        if not 1 <= container_port <= 65535:
            raise SandboxError(f"{where}.ports: {raw!r} is not a valid port number")
        ports.append(
            {"containerPort": container_port, "protocol": (match["proto"] or "tcp").upper()}
        )
    return ports


def _check_container_options(container: Container, where: str) -> None:
    if container.credentials:
        raise UnsupportedSandboxFeatureError(
            f"{where}.credentials: registry credentials are not supported; give the "
            "RunnerClass imagePullSecrets instead"
        )
    if container.volumes:
        raise UnsupportedSandboxFeatureError(
            f"{where}.volumes: container volumes are not supported"
        )
    if container.options and container.options.strip():
        raise UnsupportedSandboxFeatureError(
            f"{where}.options: docker options ({container.options.strip()!r}) are not "
            "supported for the job container; resources and users come from the RunnerClass"
        )


def _health_probe(options: str | None, where: str) -> dict[str, Any] | None:
    """Docker's ``--health-*`` options as a startup probe, which Kubernetes makes
    the steps wait for; any other docker option is refused."""
    if not options or not options.strip():
        return None
    try:
        words = shlex.split(options)
    except ValueError as error:
        raise SandboxError(f"{where}.options: {error}") from None
    given: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        flag, eq, inline = word.partition("=")
        if flag not in _HEALTH_OPTIONS:
            raise UnsupportedSandboxFeatureError(
                f"{where}.options: {flag!r} is not supported; services accept only "
                f"{', '.join(sorted(_HEALTH_OPTIONS))}"
            )
        if eq:
            given[flag] = inline
            i += 1
        elif i + 1 < len(words):
            given[flag] = words[i + 1]
            i += 2
        else:
            raise SandboxError(f"{where}.options: {flag} needs a value")
    if "--health-cmd" not in given:
        return None
    # Docker's defaults: 30 s interval and timeout, 3 retries, no start period.
    interval = _seconds(given.get("--health-interval", "30s"), where)
    timeout = _seconds(given.get("--health-timeout", "30s"), where)
    start_period = _seconds(given.get("--health-start-period", "0s"), where, minimum=0)
    try:
        retries = int(given.get("--health-retries", "3"))
    except ValueError:
        raise SandboxError(f"{where}.options: --health-retries must be a whole number") from None
    if retries < 1:
        raise SandboxError(f"{where}.options: --health-retries must be at least 1")
    return {
        "exec": {"command": ["/bin/sh", "-c", given["--health-cmd"]]},
        "periodSeconds": interval,
        "timeoutSeconds": timeout,
        # Failures during Docker's start period do not count: allow that many more.
        "failureThreshold": retries + math.ceil(start_period / interval),
    }


def _seconds(duration: str, where: str, *, minimum: int = 1) -> int:
    """A Go duration (``10s``, ``1m30s``, ``500ms``) in whole seconds, rounded up."""
    text = duration.strip()
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise SandboxError(f"{where}.options: {duration!r} is not a duration like 10s or 1m30s")
    scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    seconds = sum(float(n) * scale[u] for n, u in parts)
    return max(minimum, math.ceil(seconds))


# --- values of container and service fields -----------------------------------------


def _mentions_secrets(template: str) -> bool:
    return any(_SECRETS_CONTEXT.search(e) for e in _EXPRESSION.findall(template))


class _Values:
    """Renders ``container``/``services`` values; secrets become references."""

    def __init__(self, evaluate: TemplateEvaluator, secret_name: str | None) -> None:
        self._evaluate = evaluate
        self._secret_name = secret_name

    def text(self, raw: str, where: str) -> str:
        if "${{" not in raw:
            return raw
        if _mentions_secrets(raw):
            raise UnsupportedSandboxFeatureError(
                f"{where}: secrets are not available here ({raw!r})"
            )
        return self._evaluate(raw)

    def env(self, env: Mapping[str, str], where: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name, raw in env.items():
            raw = str(raw)
            reference = _SECRET_REFERENCE.match(raw)
            if reference is not None:
                out.append(self._secret_env(name, reference.group(1)))
            elif _mentions_secrets(raw):
                raise UnsupportedSandboxFeatureError(
                    f"{where}.{name}: a secret can only be used as the whole value "
                    f"(${{{{ secrets.NAME }}}}), not inside {raw!r}; the operator never "
                    "reads secret values"
                )
            else:
                out.append({"name": name, "value": self.text(raw, f"{where}.{name}")})
        return out

    def _secret_env(self, name: str, secret: str) -> dict[str, Any]:
        if self._secret_name is None:
            # GitHub gives an empty string for a secret that does not exist.
            return {"name": name, "value": ""}
        return {
            "name": name,
            "valueFrom": {
                "secretKeyRef": {"name": self._secret_name, "key": secret, "optional": True}
            },
        }
