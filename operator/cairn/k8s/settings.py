"""The operator's settings: one typed, immutable object, documented knob by knob.

Like Kopf's ``OperatorSettings``, every knob is a field with a docstring right
below it. The Deployment sets them through environment variables named
``CAIRN_<KNOB IN UPPER CASE>`` (``CAIRN_JOB_TTL_SECONDS=600``); ``from_env``
parses them and rejects anything malformed with a message naming the variable,
so a typo in a manifest fails the pod at start instead of misbehaving later.

``OPERATOR_PERMISSIONS`` lists every Kubernetes API permission the operator
uses. ``manifests/rbac.yaml`` must grant exactly these (a unit test compares
them), so the RBAC stays least-privilege as the code evolves.
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.errors import CairnError
from cairn.k8s.environments import InvalidEnvironmentNameError, unique_names

ENV_PREFIX = "CAIRN_"

#: A ConfigMap's ``data`` may hold at most 1 MiB (the API server's limit).
CONFIGMAP_DATA_LIMIT = 1024 * 1024

#: The shortest operator key accepted: HMAC-SHA256 keys under 32 bytes are weak.
MIN_OPERATOR_KEY_BYTES = 32

#: The shortest peering lifetime accepted. Kopf renews a record at most once a
#: second, so a 3 s lifetime still leaves 2 s for a renewal to reach the API server.
MIN_PEERING_LIFETIME_SECONDS = 3


class InvalidSettingError(CairnError):
    """A setting (usually an environment variable) with a value Cairn cannot use."""


@dataclass(frozen=True, kw_only=True)
class OperatorSettings:
    # --- what the operator watches -------------------------------------------------
    namespaces: tuple[str, ...] = ()
    """Namespaces whose CIRuns the operator handles; empty means all namespaces.

    Cluster-wide needs the ClusterRole of ``manifests/rbac.yaml``. A comma
    separated list in the environment (``CAIRN_NAMESPACES=ci,ci-staging``)."""

    operator_namespace: str = "cairn-system"
    """The namespace the operator runs in (its Deployment, key Secret, peering)."""

    # --- high availability (Kopf peering) ------------------------------------------
    peering_name: str = "cairn"
    """Name of the ClusterKopfPeering (or KopfPeering when namespaced) object the
    replicas use to see each other. It must exist: ``manifests/peering.yaml``."""

    pod_name: str | None = None
    """This replica's pod name (downward API). Kopf uses it as the peer identity
    and, when ``peering_priority`` is not set, the priority is derived from it."""

    peering_priority: int | None = None
    """This replica's Kopf peering priority. Replicas with equal priorities all
    pause (Kopf freezes on a tie), so each replica needs its own: left unset, it
    is derived from ``pod_name`` (see ``effective_peering_priority``)."""

    peering_lifetime_seconds: int = 60
    """How long a replica's peering record counts as alive without a renewal: the
    standby takes over at most this long after the active replica died without
    saying goodbye (a clean shutdown removes its record at once). Kopf renews the
    record every ``max(1, lifetime - 5..10)`` seconds, so values under
    ``MIN_PEERING_LIFETIME_SECONDS`` would let a live replica look dead between two
    renewals; every replica should use the same value."""

    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"
    """Where Kopf serves its liveness probe (the Deployment's probes point here)."""

    # --- sandboxes ------------------------------------------------------------------
    runner_image: str = "cairn:dev"
    """Image of sandbox pods whose RunnerClass names none, and of the init
    container that copies the runner into job ``container:`` images."""

    runner_image_pull_policy: str = "IfNotPresent"
    """Pull policy of ``runner_image`` (``IfNotPresent`` lets kind-loaded images work)."""

    job_ttl_seconds: int = 86400
    """``ttlSecondsAfterFinished`` of sandbox Jobs: how long a finished Job, its
    pod (and so its logs), spec ConfigMap and callback Secret are kept."""

    deadline_grace_seconds: int = 60
    """Added to a job's ``timeout-minutes`` for the Job's ``activeDeadlineSeconds``,
    so the runner's own timeout (which reports a result) normally fires first and
    Kubernetes only kills pods that stopped responding."""

    termination_grace_seconds: int = 30
    """``terminationGracePeriodSeconds`` of sandbox pods: time between SIGTERM
    (cancel, deadline) and SIGKILL, for the runner to stop steps and report."""

    max_spec_bytes: int = CONFIGMAP_DATA_LIMIT
    """The largest JobSpec JSON put in a ConfigMap; larger specs fail the job with
    a clear error instead of an API error. At most the 1 MiB ConfigMap limit."""

    default_cpu_request: str = "250m"
    """CPU request of sandbox containers whose RunnerClass sets no resources."""

    default_memory_request: str = "512Mi"
    """Memory request of sandbox containers whose RunnerClass sets no resources."""

    default_cpu_limit: str = "2"
    """CPU limit of sandbox containers whose RunnerClass sets no resources."""

    default_memory_limit: str = "4Gi"
    """Memory limit of sandbox containers whose RunnerClass sets no resources."""

    builtin_runner_class: bool = True
    """Offer a built-in RunnerClass (``runner_image``, labels such as
    ``ubuntu-latest``) when no RunnerClass object in the cluster matches a job.
    Turn off to require every ``runs-on`` to match an explicit RunnerClass."""

    # --- callbacks ------------------------------------------------------------------
    callback_base_url: str | None = "http://cairn-webhook.cairn-system.svc:8080"
    """Base URL of the webhook receiver as sandboxes reach it; callbacks go to
    ``<base>/callbacks/<token>``. Unset: sandboxes get no callback (results
    then travel only through the pod's termination message)."""

    operator_key_file: str = "/etc/cairn/operator-key/key"
    """File holding the key that signs per-attempt callback secrets (shared with
    the webhook receiver; from the Secret ``cairn-operator-key``)."""

    # --- approvals ------------------------------------------------------------------
    protected_environments: tuple[str, ...] = ()
    """Environments whose jobs wait for approval (``cairn approve``) in every
    run, like a repository's protected environments on GitHub: a CIRun's
    ``spec.protectedEnvironments`` adds to these and cannot remove any.
    Comma-separated (``CAIRN_PROTECTED_ENVIRONMENTS=production,staging``);
    names compare case-insensitively, as GitHub's do."""

    # --- git sources ----------------------------------------------------------------
    git_timeout_seconds: float = 120.0
    """Time limit for resolving a CIRun's git source (fetch and read), in seconds."""

    git_max_repo_bytes: int = 512 * 1024 * 1024
    """Size limit of the fetched repository (the pack of one shallow commit)."""

    git_max_workflow_bytes: int = 1024 * 1024
    """Size limit of one workflow file read from a repository."""

    git_allowed_protocols: tuple[str, ...] = ("https", "ssh", "git")
    """Transports ``git`` may use for ``source.repo`` (``GIT_ALLOW_PROTOCOL``).
    ``file`` is off by default: it would let a CIRun read repositories on the
    operator's own filesystem."""

    def effective_peering_priority(self) -> int:
        """The priority this replica announces to its peers."""
        if self.peering_priority is not None:
            return self.peering_priority
        if self.pod_name:
            return peering_priority_for(self.pod_name)
        return 0

    def __post_init__(self) -> None:
        for name in ("job_ttl_seconds", "deadline_grace_seconds", "termination_grace_seconds"):
            if getattr(self, name) < 0:
                raise InvalidSettingError(f"{name} must not be negative")
        if not 0 < self.max_spec_bytes <= CONFIGMAP_DATA_LIMIT:
            raise InvalidSettingError(
                f"max_spec_bytes must be between 1 and {CONFIGMAP_DATA_LIMIT} (the ConfigMap limit)"
            )
        if self.peering_lifetime_seconds < MIN_PEERING_LIFETIME_SECONDS:
            raise InvalidSettingError(
                f"peering_lifetime_seconds must be at least {MIN_PEERING_LIFETIME_SECONDS}: Kopf "
                "renews a replica's record at most once a second, so a shorter lifetime would "
                "make live replicas look dead"
            )
        if self.git_timeout_seconds <= 0:
            raise InvalidSettingError("git_timeout_seconds must be positive")
        if self.git_max_repo_bytes <= 0 or self.git_max_workflow_bytes <= 0:
            raise InvalidSettingError("git size limits must be positive")
        try:
            unique_names(self.protected_environments)
        except InvalidEnvironmentNameError as error:
            raise InvalidSettingError(f"protected_environments: {error}") from None
        if self.callback_base_url is not None and not self.callback_base_url.startswith(
            ("http://", "https://")
        ):
            raise InvalidSettingError(
                f"callback_base_url must be an http(s) URL, got {self.callback_base_url!r}"
            )


def peering_priority_for(pod_name: str) -> int:
    """A stable priority in ``[1, 2**31)`` from a pod name.

    Two replicas of one Deployment have different pod names, so they get
    different priorities (equal ones would make Kopf pause both) without any
    coordination; the one with the highest priority works, the other waits.
    """
    digest = hashlib.sha256(pod_name.encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1) + 1


def env_name(knob: str) -> str:
    return ENV_PREFIX + knob.upper()


def from_env(environ: Mapping[str, str]) -> OperatorSettings:
    """Settings from ``CAIRN_*`` variables (others keep their defaults).

    ``POD_NAME`` (the downward API's conventional name) fills ``pod_name`` when
    ``CAIRN_POD_NAME`` is not given.
    """
    hints = typing.get_type_hints(OperatorSettings)
    values: dict[str, Any] = {}
    for knob in dataclasses.fields(OperatorSettings):
        variable = env_name(knob.name)
        if variable in environ:
            values[knob.name] = _parse(variable, environ[variable], hints[knob.name])
    if "pod_name" not in values and environ.get("POD_NAME"):
        values["pod_name"] = environ["POD_NAME"]
    unknown = sorted(
        k
        for k in environ
        if k.startswith(ENV_PREFIX)
        and k not in {env_name(f.name) for f in dataclasses.fields(OperatorSettings)}
        and k not in _FOREIGN_CAIRN_VARIABLES
    )
    if unknown:
        raise InvalidSettingError(f"unknown operator setting(s): {', '.join(unknown)}")
    return OperatorSettings(**values)


#: ``CAIRN_*`` variables that are not operator settings but may be in its environment.
_FOREIGN_CAIRN_VARIABLES = frozenset({"CAIRN_E2E_KUBECONFIG"})


def _parse(variable: str, raw: str, hint: Any) -> Any:
    optional = False
    if isinstance(hint, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) != len(typing.get_args(hint))
        hint = args[0]
    if optional and raw == "":
        return None
    try:
        if hint is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if hint is int:
            return int(raw)
        if hint is float:
            return float(raw)
        if hint is str:
            return raw
        if typing.get_origin(hint) is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise InvalidSettingError(f"{variable}={raw!r}: {exc}") from None
    raise InvalidSettingError(f"{variable}: unsupported setting type {hint!r}")  # pragma: no cover


def load_operator_key(path: str | Path) -> bytes:
    """The callback-signing key from its file, stripped of surrounding whitespace."""
    try:
        key = Path(path).read_bytes().strip()
    except OSError as exc:
        raise InvalidSettingError(
            f"cannot read the operator key from {path}: {exc.strerror}; create the Secret "
            "cairn-operator-key (see docs/kubernetes.md)"
        ) from None
    if len(key) < MIN_OPERATOR_KEY_BYTES:
        raise InvalidSettingError(
            f"the operator key in {path} is {len(key)} bytes; at least "
            f"{MIN_OPERATOR_KEY_BYTES} are required"
        )
    return key


# --- the Kubernetes API permissions the operator uses -------------------------------


@dataclass(frozen=True)
class Permission:
    """One RBAC rule: ``verbs`` on ``resource`` (``kind/subresource``) of ``api_group``."""

    api_group: str
    resource: str
    verbs: tuple[str, ...]
    why: str = field(default="", compare=False)
    #: only these objects (RBAC ``resourceNames``); empty: any object
    resource_names: tuple[str, ...] = ()


OPERATOR_PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "cairn.dev",
        "ciruns",
        ("get", "list", "watch", "patch"),
        "reconcile runs; Kopf patches its finalizer and annotations (it never creates runs)",
    ),
    Permission("cairn.dev", "ciruns/status", ("patch",), "the run's phase, conditions, counts"),
    Permission(
        "cairn.dev",
        "ciworkflows",
        ("get", "list", "watch", "patch", "create"),
        "one CIWorkflow per workflow file; consume callback annotations",
    ),
    Permission("cairn.dev", "ciworkflows/status", ("patch",), "the engine's checkpoint"),
    Permission("cairn.dev", "runnerclasses", ("get", "list", "watch"), "map runs-on to pods"),
    Permission(
        "batch",
        "jobs",
        ("create", "delete", "get", "list", "watch"),
        "one Job per attempt; delete to cancel; get the uid after an AlreadyExists",
    ),
    Permission(
        "",
        "pods",
        ("get", "list", "watch"),
        "read a finished sandbox's termination message (its JobResult)",
    ),
    Permission("", "configmaps", ("create",), "the JobSpec of each attempt, owned by its Job"),
    Permission(
        "",
        "configmaps",
        ("get", "patch"),
        "github.run_number: the namespace's counters, read and incremented conditionally",
        resource_names=("cairn-run-numbers",),
    ),
    Permission(
        "",
        "secrets",
        ("create",),
        "the per-attempt callback secret, owned by its Job; run Secrets are never read, "
        "only mounted into pods by name",
    ),
    Permission("", "events", ("create",), "Kopf and Cairn post Events for each transition"),
    Permission(
        "kopf.dev",
        "clusterkopfpeerings",
        ("get", "list", "watch", "patch"),
        "replicas see each other; only the highest priority works",
    ),
    Permission(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        ("list", "watch"),
        "Kopf notices CRDs installed or removed at run time",
    ),
    Permission("", "namespaces", ("list", "watch"), "Kopf follows namespaces when cluster-wide"),
)
