"""The resource types the emulator serves, and the discovery documents for them.

Built-in types are a fixed catalog (what Kopf and Cairn touch: namespaces,
pods, configmaps, secrets, events, services, serviceaccounts, Jobs, Leases,
events.k8s.io Events, CRDs). Custom resources appear when a
``CustomResourceDefinition`` is created and vanish when it is deleted, exactly
as their discovery would on a real cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import Invalid

#: (group, plural): objects live here whatever version serves them.
StorageKey = tuple[str, str]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")

#: The GC policy a DELETE without ``propagationPolicy`` uses. batch/v1 Jobs keep the
#: legacy default of orphaning their pods, which surprises many clients.
BACKGROUND = "Background"
FOREGROUND = "Foreground"
ORPHAN = "Orphan"
PROPAGATION_POLICIES = (BACKGROUND, FOREGROUND, ORPHAN)


@dataclass(frozen=True)
class ResourceType:
    """One group/version/resource as discovery advertises it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    custom: bool = False
    #: openAPIV3Schema of a custom resource's version (defaulting, pruning, validation)
    schema: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    #: where the objects live; two types share storage when they are views of one thing
    storage: StorageKey = ("", "")
    default_propagation: str = BACKGROUND
    #: names must be DNS labels (<=63, no dots) instead of DNS subdomains
    label_names: bool = False
    #: names no longer than this (Jobs: 63, because the name becomes a label value)
    max_name_length: int = 253

    @property
    def api_version(self) -> str:
        return self.version if self.group == "" else f"{self.group}/{self.version}"

    @property
    def group_resource(self) -> str:
        """``jobs.batch`` / ``configmaps``: how API messages name a resource."""
        return self.plural if self.group == "" else f"{self.plural}.{self.group}"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


def _builtin(
    group: str,
    version: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    status: bool = False,
    short: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    storage: StorageKey | None = None,
    default_propagation: str = BACKGROUND,
    label_names: bool = False,
    max_name_length: int = 253,
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        kind=kind,
        namespaced=namespaced,
        singular=kind.lower(),
        short_names=short,
        categories=categories,
        subresources=frozenset({"status"}) if status else frozenset(),
        storage=storage or (group, plural),
        default_propagation=default_propagation,
        label_names=label_names,
        max_name_length=max_name_length,
    )


NAMESPACES = _builtin(
    "",
    "v1",
    "namespaces",
    "Namespace",
    namespaced=False,
    status=True,
    short=("ns",),
    label_names=True,
    max_name_length=63,
)
PODS = _builtin("", "v1", "pods", "Pod", status=True, short=("po",), categories=("all",))
CONFIGMAPS = _builtin("", "v1", "configmaps", "ConfigMap", short=("cm",))
SECRETS = _builtin("", "v1", "secrets", "Secret")
CORE_EVENTS = _builtin("", "v1", "events", "Event", short=("ev",))
SERVICES = _builtin(
    "",
    "v1",
    "services",
    "Service",
    status=True,
    short=("svc",),
    categories=("all",),
    label_names=True,
    max_name_length=63,
)
SERVICE_ACCOUNTS = _builtin("", "v1", "serviceaccounts", "ServiceAccount", short=("sa",))
JOBS = _builtin(
    "batch",
    "v1",
    "jobs",
    "Job",
    status=True,
    categories=("all",),
    default_propagation=ORPHAN,
    max_name_length=63,
)
LEASES = _builtin("coordination.k8s.io", "v1", "leases", "Lease")
EVENTS_V1 = _builtin(
    "events.k8s.io", "v1", "events", "Event", short=("ev",), storage=("", "events")
)
CRDS = _builtin(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    namespaced=False,
    status=True,
    short=("crd", "crds"),
    categories=("api-extensions",),
)

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    NAMESPACES,
    PODS,
    CONFIGMAPS,
    SECRETS,
    CORE_EVENTS,
    SERVICES,
    SERVICE_ACCOUNTS,
    JOBS,
    LEASES,
    EVENTS_V1,
    CRDS,
)

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting versions in Kubernetes' preference order (v2 > v1 > v1beta2 > v1alpha1)."""
    m = _VERSION_RE.match(version)
    if not m:
        return (3, 0, 0, version)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    stage_rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (stage_rank, -major, -minor, version)


class ResourceRegistry:
    """The served types, indexed for URL routing and for by-name lookups in tests."""

    def __init__(self, types: Iterable[ResourceType] = BUILTIN_TYPES) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        for rt in types:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._by_gvr[(rt.group, rt.version, rt.plural)] = rt

    def remove_storage(self, storage: StorageKey) -> None:
        for key, rt in list(self._by_gvr.items()):
            if rt.storage == storage:
                del self._by_gvr[key]

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_gvr.get((group, version, plural))

    def of_storage(self, storage: StorageKey) -> list[ResourceType]:
        return [rt for rt in self._by_gvr.values() if rt.storage == storage]

    def all(self) -> list[ResourceType]:
        return list(self._by_gvr.values())

    def group_versions(self, group: str) -> list[str]:
        versions = {rt.version for rt in self._by_gvr.values() if rt.group == group}
        return sorted(versions, key=version_priority)

    def groups(self) -> list[str]:
        return sorted({rt.group for rt in self._by_gvr.values() if rt.group != ""})

    def resolve(self, name: str) -> ResourceType:
        """Find a type as kubectl does: ``jobs``, ``jobs.batch``, ``batch/v1/jobs``, ``Job``."""
        from .errors import EmulatorUsageError

        if "/" in name:
            parts = name.split("/")
            group, version, plural = ("", parts[0], parts[1]) if len(parts) == 2 else parts
            rt = self.get(group, version, plural)
            if rt is None:
                raise EmulatorUsageError(f"the emulator serves no resource {name!r}")
            return rt
        head, _, group = name.partition(".")
        matches = [
            rt
            for rt in self._by_gvr.values()
            if (not group or rt.group == group)
            and head.lower() in (rt.plural, rt.singular, rt.kind.lower(), *rt.short_names)
        ]
        if not matches:
            raise EmulatorUsageError(f"the emulator serves no resource named {name!r}")
        # The core group wins ties (``events`` is v1 Events, as with kubectl), then preference.
        matches.sort(key=lambda rt: (rt.group != "", rt.group, version_priority(rt.version)))
        return matches[0]


# --- CustomResourceDefinitions --------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def types_from_crd(crd: Mapping[str, Any]) -> list[ResourceType]:
    """The served types a CRD declares; raise ``Invalid`` for a CRD a real server would reject."""
    name = str(crd.get("metadata", {}).get("name", ""))
    spec = crd.get("spec")
    problems: list[str] = []
    if not isinstance(spec, Mapping):
        raise _crd_invalid(name, ["spec: Required value"])
    group = str(spec.get("group") or "")
    names = spec.get("names") or {}
    plural = str(names.get("plural") or "")
    kind = str(names.get("kind") or "")
    scope = spec.get("scope")
    if not group or "." not in group:
        problems.append(
            f'spec.group: Invalid value: "{group}": should be a domain with at least one dot'
        )
    if not plural or not _DNS_LABEL.match(plural):
        problems.append(
            f'spec.names.plural: Invalid value: "{plural}": must be a lowercase DNS label'
        )
    if not kind:
        problems.append("spec.names.kind: Required value")
    if scope not in ("Namespaced", "Cluster"):
        problems.append(
            f'spec.scope: Unsupported value: "{scope}": supported values: "Cluster", "Namespaced"'
        )
    if name != f"{plural}.{group}":
        problems.append(
            f'metadata.name: Invalid value: "{name}": must be spec.names.plural+"."+spec.group'
        )
    conversion = (spec.get("conversion") or {}).get("strategy", "None")
    if conversion != "None":
        problems.append(
            f'spec.conversion.strategy: Unsupported value: "{conversion}": '
            "the Cairn API emulator serves only the None conversion strategy"
        )
    versions = spec.get("versions") or []
    if not versions:
        problems.append(
            "spec.versions: Required value: must have exactly one version marked as storage version"
        )
    storage_versions = [v for v in versions if v.get("storage")]
    if versions and len(storage_versions) != 1:
        problems.append(
            "spec.versions: Invalid value: must have exactly one version marked as storage version"
        )
    for i, v in enumerate(versions):
        if not v.get("name") or not _DNS_LABEL.match(str(v.get("name"))):
            problems.append(f"spec.versions[{i}].name: Invalid value: must be a DNS label")
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            problems.append(
                f"spec.versions[{i}].schema.openAPIV3Schema: Required value: schemas are required"
            )
        elif schema.get("type") != "object":
            problems.append(
                f"spec.versions[{i}].schema.openAPIV3Schema.type: Required value: "
                'must be "object" at the root'
            )
    if problems:
        raise _crd_invalid(name, problems)

    types = []
    for v in versions:
        if not v.get("served"):
            continue
        subresources = frozenset(k for k in (v.get("subresources") or {}) if k == "status")
        types.append(
            ResourceType(
                group=group,
                version=str(v["name"]),
                plural=plural,
                kind=kind,
                namespaced=scope == "Namespaced",
                singular=str(names.get("singular") or kind.lower()),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=subresources,
                custom=True,
                schema=(v.get("schema") or {}).get("openAPIV3Schema"),
                storage=(group, plural),
            )
        )
    return types


def _crd_invalid(name: str, problems: list[str]) -> Invalid:
    return Invalid(
        f'CustomResourceDefinition.apiextensions.k8s.io "{name}" is invalid: '
        + ", ".join(problems),
        name=name,
        group="apiextensions.k8s.io",
        kind="CustomResourceDefinition",
        causes=[{"reason": "FieldValueInvalid", "message": p} for p in problems],
    )


# --- Discovery documents ------------------------------------------------------------------


def api_versions_doc(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group_doc(registry: ResourceRegistry, group: str) -> dict[str, Any]:
    versions = registry.group_versions(group)
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
        "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]},
    }


def api_group_list_doc(registry: ResourceRegistry) -> dict[str, Any]:
    groups = [api_group_doc(registry, g) for g in registry.groups()]
    for g in groups:
        del g["kind"], g["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list_doc(registry: ResourceRegistry, group: str, version: str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    types = sorted(
        (rt for rt in registry.all() if rt.group == group and rt.version == version),
        key=lambda rt: rt.plural,
    )
    for rt in types:
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(ALL_VERBS),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        entries.append(entry)
        for sub in sorted(rt.subresources):
            entries.append(
                {
                    "name": f"{rt.plural}/{sub}",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": list(SUBRESOURCE_VERBS),
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": version if group == "" else f"{group}/{version}",
        "resources": entries,
    }
