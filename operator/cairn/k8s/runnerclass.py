"""RunnerClass: which pod runs a job, chosen by the job's ``runs-on``.

A RunnerClass (cluster-scoped, ``crds/runnerclass.yaml``) names the labels it
serves and the pod it makes: image, resources, nodeSelector, tolerations,
service account, extra env. A job runs on a class when the class carries every
label of its ``runs-on`` (GitHub's rule for runners: all labels must match,
compared without regard to case) and, when ``runs-on`` names a ``group``, the
class is in that group. When several classes match, the highest ``priority``
wins, then the alphabetically first name, so the choice is deterministic.

A job no class serves is an error (``NoMatchingRunnerClassError``) that the
operator surfaces as the job's failure reason and a condition, listing what
the cluster offers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cairn.engine.jobspec import JobSpec
from cairn.errors import CairnError
from cairn.k8s.settings import OperatorSettings

#: Condition/Event reason when no RunnerClass serves a job's ``runs-on``.
REASON_NO_RUNNER_CLASS = "NoMatchingRunnerClass"

#: Name of the class the operator offers when none in the cluster matches.
BUILTIN_CLASS_NAME = "cairn-builtin"

#: Labels of GitHub-hosted Linux runners (and the generic self-hosted ones) that
#: the default class serves. The sandbox is a Linux container, so Windows and
#: macOS labels are deliberately absent: such jobs fail with a clear error.
DEFAULT_LABELS: tuple[str, ...] = (
    "ubuntu-latest",
    "ubuntu-24.04",
    "ubuntu-22.04",
    "ubuntu-20.04",
    "self-hosted",
    "linux",
    "x64",
)

#: uid/gid sandbox containers run as unless the class says otherwise; it is the
#: ``cairn`` user of the Cairn image.
DEFAULT_RUN_AS_USER = 1001


class RunnerClassError(CairnError):
    """Base class of RunnerClass errors."""


class InvalidRunnerClassError(RunnerClassError):
    """A RunnerClass object that does not describe a usable pod."""


class NoMatchingRunnerClassError(RunnerClassError):
    """No RunnerClass serves a job's ``runs-on``."""

    reason = REASON_NO_RUNNER_CLASS


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Toleration(_Spec):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(default=None, alias="tolerationSeconds")


class EnvVar(_Spec):
    """A literal environment variable for the runner container (never a secret)."""

    name: str = Field(min_length=1, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
    value: str = ""


class Resources(_Spec):
    """Kubernetes quantities (``"500m"``, ``"2Gi"``, or plain numbers)."""

    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)

    @field_validator("requests", "limits", mode="before")
    @classmethod
    def _quantities_as_text(cls, value: Any) -> Any:
        # The API server keeps ``cpu: 1`` as a number; a quantity is text to us.
        if isinstance(value, Mapping):
            return {k: str(v) for k, v in value.items()}
        return value

    @property
    def empty(self) -> bool:
        return not self.requests and not self.limits


class ServicePolicy(_Spec):
    """How ``services:`` sidecars of jobs on this class run."""

    #: let service containers run as root (with a minimal set of capabilities):
    #: images such as the official ``postgres`` start as root and switch user
    allow_root: bool = Field(default=False, alias="allowRoot")
    resources: Resources | None = None


class RunnerClassSpec(_Spec):
    labels: tuple[str, ...] = Field(min_length=1)
    group: str | None = None
    priority: int = 0
    image: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, alias="imagePullPolicy"
    )
    #: the image is not a Cairn image: copy the runner in, as for ``container:`` jobs
    inject_runner: bool = Field(default=False, alias="injectRunner")
    resources: Resources = Field(default_factory=Resources)
    node_selector: dict[str, str] = Field(default_factory=dict, alias="nodeSelector")
    tolerations: tuple[Toleration, ...] = ()
    service_account_name: str | None = Field(default=None, alias="serviceAccountName")
    image_pull_secrets: tuple[str, ...] = Field(default=(), alias="imagePullSecrets")
    env: tuple[EnvVar, ...] = ()
    run_as_user: int = Field(default=DEFAULT_RUN_AS_USER, ge=1, alias="runAsUser")
    run_as_group: int = Field(default=DEFAULT_RUN_AS_USER, ge=0, alias="runAsGroup")
    fs_group: int = Field(default=DEFAULT_RUN_AS_USER, ge=0, alias="fsGroup")
    services: ServicePolicy = Field(default_factory=ServicePolicy)

    @field_validator("labels")
    @classmethod
    def _labels_not_blank(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        if any(not label.strip() for label in labels):
            raise ValueError("labels must not be blank")
        return labels


class RunnerClass(_Spec):
    name: str
    spec: RunnerClassSpec

    def serves(self, labels: Iterable[str], group: str | None = None) -> bool:
        """True when this class has every label of ``runs-on`` (and its group)."""
        own = {label.casefold() for label in self.spec.labels}
        if group is not None and (self.spec.group or "").casefold() != group.casefold():
            return False
        return all(label.casefold() in own for label in labels)

    def image(self, settings: OperatorSettings) -> str:
        return self.spec.image or settings.runner_image

    def image_pull_policy(self, settings: OperatorSettings) -> str:
        if self.spec.image_pull_policy is not None:
            return self.spec.image_pull_policy
        return settings.runner_image_pull_policy if self.spec.image is None else "IfNotPresent"


def from_object(obj: Mapping[str, Any]) -> RunnerClass:
    """A RunnerClass from its API object; InvalidRunnerClassError with the field at fault."""
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRunnerClassError("a RunnerClass object has no metadata.name")
    try:
        return RunnerClass(name=name, spec=RunnerClassSpec.model_validate(obj.get("spec") or {}))
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "spec"
        raise InvalidRunnerClassError(
            f"RunnerClass {name}: spec.{where}: {problem['msg']}"
        ) from None


def builtin_class() -> RunnerClass:
    """The class offered when the cluster has none for ``ubuntu-latest``-style labels:
    the Cairn image (``settings.runner_image``) with the settings' default resources."""
    return RunnerClass(
        name=BUILTIN_CLASS_NAME,
        spec=RunnerClassSpec(labels=DEFAULT_LABELS, priority=-(2**31)),
    )


def select(
    runs_on: Iterable[str],
    classes: Iterable[RunnerClass],
    *,
    group: str | None = None,
    settings: OperatorSettings,
) -> RunnerClass:
    """The class a job with ``runs-on`` labels (and ``group``) runs on."""
    labels = tuple(runs_on)
    if not labels and group is None:
        raise NoMatchingRunnerClassError("the job has no runs-on labels to choose a runner by")
    offered = list(classes)
    if settings.builtin_runner_class:
        offered.append(builtin_class())
    matching = [c for c in offered if c.serves(labels, group)]
    if matching:
        return min(matching, key=lambda c: (-c.spec.priority, c.name))
    wanted = ", ".join(labels) + (f" (group {group})" if group else "")
    available = "; ".join(
        f"{c.name}: {', '.join(c.spec.labels)}"
        + (f" (group {c.spec.group})" if c.spec.group else "")
        for c in sorted(offered, key=lambda c: c.name)
    )
    raise NoMatchingRunnerClassError(
        f"no RunnerClass serves runs-on [{wanted}]; "
        + (f"available: {available}" if available else "the cluster has no RunnerClass")
    )


def select_for_job(
    spec: JobSpec, classes: Iterable[RunnerClass], *, settings: OperatorSettings
) -> RunnerClass:
    """The class for a job about to start: its evaluated ``runs-on`` labels, and
    the ``group`` of its ``runs-on`` when it names one."""
    runs_on = spec.job.runs_on
    group = runs_on.group if runs_on is not None else None
    if group is not None and "${{" in group:
        raise NoMatchingRunnerClassError(
            f"runs-on group {group!r} is an expression; Cairn needs a literal group name"
        )
    return select(spec.runs_on, classes, group=group, settings=settings)
