"""Per-write checks and defaults the API server applies before storing an object.

Generic ``metadata`` validation (names, labels, annotations, finalizers,
ownerReferences) for every type, plus the type-specific behaviour that
Cairn's operator can trip over: Secrets' ``stringData``, the 1 MiB ConfigMap
and Secret limit, Pod/Job container checks, Job defaults (selector, labels,
``backoffLimit``...) and the Job template's immutability, events.k8s.io
validation, and custom resources' structural schemas.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import Invalid
from .resources import CONFIGMAPS, JOBS, PODS, SECRETS, ResourceType
from .schema import admit_custom_object
from .selectors import label_key_problem, label_value_problem

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

MAX_ANNOTATIONS_BYTES = 256 * 1024
MAX_CONFIG_BYTES = 1024 * 1024
#: generateName keeps at most this much of the prefix, then appends 5 random characters
MAX_GENERATED_PREFIX = 58
STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


class Problems:
    """Field errors collected for one object, raised together as a 422 like the real server."""

    def __init__(self, rt: ResourceType, name: str) -> None:
        self.rt = rt
        self.name = name
        self.items: list[str] = []

    def add(self, field: str, what: str) -> None:
        self.items.append(f"{field}: {what}")

    def raise_if_any(self) -> None:
        if self.items:
            title = self.rt.kind if self.rt.group == "" else f"{self.rt.kind}.{self.rt.group}"
            raise Invalid(
                f'{title} "{self.name}" is invalid: ' + ", ".join(self.items),
                name=self.name,
                group=self.rt.group,
                kind=self.rt.kind,
                causes=[{"reason": "FieldValueInvalid", "message": p} for p in self.items],
            )


def name_problem(rt: ResourceType, name: str) -> str | None:
    if len(name) > rt.max_name_length:
        return f"must be no more than {rt.max_name_length} characters"
    pattern = _DNS_LABEL if rt.label_names else _DNS_SUBDOMAIN
    if not pattern.match(name):
        if rt.label_names:
            return (
                "a lowercase RFC 1123 label must consist of lower case alphanumeric "
                "characters or '-', and must start and end with an alphanumeric character"
            )
        return (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character"
        )
    return None


def check_metadata(rt: ResourceType, meta: Mapping[str, Any], problems: Problems) -> None:
    name = str(meta.get("name") or "")
    if problem := name_problem(rt, name):
        problems.add("metadata.name", f'Invalid value: "{name}": {problem}')
    labels = meta.get("labels") or {}
    if not isinstance(labels, Mapping):
        problems.add("metadata.labels", "Invalid value: must be a map of strings")
    else:
        for key, value in labels.items():
            if problem := label_key_problem(key):
                problems.add("metadata.labels", f'Invalid value: "{key}": {problem}')
            if problem := label_value_problem(value):
                problems.add(
                    f"metadata.labels[{key}]", f"Invalid value: {json.dumps(value)}: {problem}"
                )
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        problems.add("metadata.annotations", "Invalid value: must be a map of strings")
    else:
        total = 0
        for key, value in annotations.items():
            if problem := label_key_problem(key):
                problems.add("metadata.annotations", f'Invalid value: "{key}": {problem}')
            if not isinstance(value, str):
                problems.add(f"metadata.annotations[{key}]", "Invalid value: must be a string")
                continue
            total += len(key.encode()) + len(value.encode())
        if total > MAX_ANNOTATIONS_BYTES:
            problems.add(
                "metadata.annotations", f"Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes"
            )
    for i, finalizer in enumerate(meta.get("finalizers") or []):
        if finalizer in STANDARD_FINALIZERS:
            continue
        if not isinstance(finalizer, str) or label_key_problem(finalizer):
            problems.add(
                f"metadata.finalizers[{i}]",
                f"Invalid value: {json.dumps(finalizer)}: must be a qualified name",
            )
    controllers = 0
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        where = f"metadata.ownerReferences[{i}]"
        if not isinstance(ref, Mapping):
            problems.add(where, "Invalid value: must be an object")
            continue
        for key in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(key):
                problems.add(f"{where}.{key}", 'Invalid value: "": must not be empty')
        controllers += bool(ref.get("controller"))
    if controllers > 1:
        problems.add(
            "metadata.ownerReferences",
            "Invalid value: only one reference can have Controller set to true",
        )


def admit(
    rt: ResourceType,
    obj: dict[str, Any],
    old: Mapping[str, Any] | None,
    *,
    status_only: bool = False,
) -> dict[str, Any]:
    """Validate and default ``obj`` (already carrying server metadata); return what gets stored.
    ``status_only``: a write through the status subresource, whose other fields are the
    stored (already admitted) ones; a custom resource's schema then checks its status."""
    name = str(obj.get("metadata", {}).get("name") or "")
    problems = Problems(rt, name)
    check_metadata(rt, obj.get("metadata") or {}, problems)
    if rt.custom:
        problems.raise_if_any()
        return admit_custom_object(rt, obj, status_only=status_only)
    if rt.storage == SECRETS.storage:
        obj = _admit_secret(obj, problems)
    elif rt.storage == CONFIGMAPS.storage:
        _check_config_data(obj, ("data", "binaryData"), problems)
    elif rt.storage == PODS.storage:
        _check_pod_spec(obj.get("spec"), "spec", problems, job=False)
    elif rt.storage == JOBS.storage:
        obj = _admit_job(obj, old, problems)
    problems.raise_if_any()
    return obj


def _admit_secret(obj: dict[str, Any], problems: Problems) -> dict[str, Any]:
    obj.setdefault("type", "Opaque")
    data = dict(obj.get("data") or {})
    for key, value in data.items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            problems.add(f"data[{key}]", "Invalid value: must be base64-encoded")
    # stringData is write-only: merged into data and never stored.
    for key, value in (obj.pop("stringData", None) or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        obj["data"] = data
    _check_config_data(obj, ("data",), problems, decoded=True)
    return obj


def _check_config_data(
    obj: Mapping[str, Any], fields: tuple[str, ...], problems: Problems, *, decoded: bool = False
) -> None:
    total = 0
    for field in fields:
        for key, value in (obj.get(field) or {}).items():
            if not _CONFIG_KEY.match(key):
                problems.add(
                    f"{field}[{key}]",
                    "Invalid value: a valid config key must consist of alphanumeric characters, "
                    "'-', '_' or '.'",
                )
            raw = str(value)
            total += len(key) + (
                len(base64.b64decode(raw))
                if decoded or field == "binaryData"
                else len(raw.encode())
            )
    if total > MAX_CONFIG_BYTES:
        problems.add(fields[0], f"Too long: must have at most {MAX_CONFIG_BYTES} bytes")


def _check_pod_spec(spec: Any, where: str, problems: Problems, *, job: bool) -> None:
    if not isinstance(spec, Mapping):
        problems.add(where, "Required value")
        return
    containers = spec.get("containers")
    if not containers:
        problems.add(f"{where}.containers", "Required value")
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            if not isinstance(c, Mapping) or not c.get("name"):
                problems.add(f"{where}.{group}[{i}].name", "Required value")
            if not isinstance(c, Mapping) or not c.get("image"):
                problems.add(f"{where}.{group}[{i}].image", "Required value")
    policy = spec.get("restartPolicy")
    if job and policy not in ("Never", "OnFailure"):
        problems.add(
            f"{where}.restartPolicy",
            f'Required value: valid values: "OnFailure", "Never" (got {json.dumps(policy)})',
        )


def _admit_job(
    obj: dict[str, Any], old: Mapping[str, Any] | None, problems: Problems
) -> dict[str, Any]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        problems.add("spec", "Required value")
        return obj
    template = spec.get("template")
    if not isinstance(template, dict):
        problems.add("spec.template", "Required value")
        return obj
    _check_pod_spec(template.get("spec"), "spec.template.spec", problems, job=True)
    if old is None:
        # What the Job REST strategy and defaulting add on create.
        uid = obj["metadata"]["uid"]
        name = obj["metadata"]["name"]
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        if not spec.get("manualSelector"):
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            labels.update(
                {
                    "batch.kubernetes.io/controller-uid": uid,
                    "batch.kubernetes.io/job-name": name,
                    "controller-uid": uid,
                    "job-name": name,
                }
            )
    else:
        old_spec = old.get("spec") or {}
        if spec.get("template") != old_spec.get("template") and not old_spec.get("suspend"):
            problems.add("spec.template", "Invalid value: field is immutable")
        if spec.get("selector") != old_spec.get("selector"):
            problems.add("spec.selector", "Invalid value: field is immutable")
        if spec.get("completions") != old_spec.get("completions"):
            problems.add("spec.completions", "Invalid value: field is immutable")
    return obj


def check_events_v1(rt: ResourceType, obj: Mapping[str, Any]) -> None:
    """events.k8s.io/v1 requires what core/v1 Events leave optional."""
    problems = Problems(rt, str((obj.get("metadata") or {}).get("name") or ""))
    for field in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
        if not obj.get(field):
            problems.add(field, "Required value")
    if obj.get("type") not in ("Normal", "Warning"):
        problems.add(
            "type",
            f"Unsupported value: {json.dumps(obj.get('type'))}: "
            'supported values: "Normal", "Warning"',
        )
    if len(str(obj.get("note") or "").encode()) > 1024:
        problems.add("note", "Too long: must have at most 1024 bytes")
    problems.raise_if_any()
