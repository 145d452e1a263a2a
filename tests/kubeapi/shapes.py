"""Type checks a real API server gets for free by decoding built-in objects into Go structs.

A field of the wrong JSON type (a number where a name goes, a string where a
list goes) makes the real server answer 400 before anything else happens.
The emulator keeps objects as JSON, so it checks the fields it (and its
admission rules) read, with the same kind of answer. Custom resources are
checked by their schemas instead (422, like the real server).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import BadRequest
from .resources import CONFIGMAPS, CRDS, JOBS, NAMESPACES, PODS, SECRETS, ResourceType, StorageKey

_STR, _DICT, _LIST, _INT, _BOOL = "string", "object", "array", "integer", "boolean"
_STR_MAP = "map[string]string"

_META: tuple[tuple[str, str], ...] = (
    ("metadata.name", _STR),
    ("metadata.generateName", _STR),
    ("metadata.namespace", _STR),
    ("metadata.resourceVersion", _STR),
    ("metadata.labels", _STR_MAP),
    ("metadata.annotations", _STR_MAP),
    ("metadata.finalizers", _LIST),
    ("metadata.finalizers[]", _STR),
    ("metadata.ownerReferences", _LIST),
    ("metadata.ownerReferences[]", _DICT),
    ("metadata.ownerReferences[].uid", _STR),
    ("metadata.ownerReferences[].name", _STR),
    ("metadata.ownerReferences[].controller", _BOOL),
    ("metadata.ownerReferences[].blockOwnerDeletion", _BOOL),
)
_POD_SPEC = (
    ("containers", _LIST),
    ("containers[]", _DICT),
    ("initContainers", _LIST),
    ("initContainers[]", _DICT),
    ("restartPolicy", _STR),
)
_SHAPES: dict[StorageKey, tuple[tuple[str, str], ...]] = {
    CONFIGMAPS.storage: (("data", _STR_MAP), ("binaryData", _STR_MAP)),
    SECRETS.storage: (("data", _STR_MAP), ("stringData", _STR_MAP), ("type", _STR)),
    NAMESPACES.storage: (("spec", _DICT),),
    PODS.storage: (("spec", _DICT), *((f"spec.{p}", t) for p, t in _POD_SPEC)),
    JOBS.storage: (
        ("spec", _DICT),
        ("spec.template", _DICT),
        ("spec.template.metadata", _DICT),
        ("spec.template.metadata.labels", _STR_MAP),
        ("spec.template.spec", _DICT),
        ("spec.manualSelector", _BOOL),
        ("spec.suspend", _BOOL),
        *((f"spec.template.spec.{p}", t) for p, t in _POD_SPEC),
    ),
    CRDS.storage: (
        ("spec", _DICT),
        ("spec.group", _STR),
        ("spec.scope", _STR),
        ("spec.names", _DICT),
        ("spec.names.plural", _STR),
        ("spec.names.singular", _STR),
        ("spec.names.kind", _STR),
        ("spec.names.shortNames", _LIST),
        ("spec.names.shortNames[]", _STR),
        ("spec.names.categories", _LIST),
        ("spec.names.categories[]", _STR),
        ("spec.versions", _LIST),
        ("spec.versions[]", _DICT),
        ("spec.versions[].name", _STR),
        ("spec.versions[].served", _BOOL),
        ("spec.versions[].storage", _BOOL),
        ("spec.versions[].schema", _DICT),
        ("spec.versions[].schema.openAPIV3Schema", _DICT),
        ("spec.versions[].subresources", _DICT),
        ("spec.conversion", _DICT),
    ),
}


def check_shape(rt: ResourceType, obj: Mapping[str, Any]) -> None:
    """Raise ``BadRequest`` for a field whose JSON type a real server could not decode."""
    checks = _META if rt.custom else _META + _SHAPES.get(rt.storage, ())
    for path, expected in checks:
        for where, value in _values(obj, path.split("."), ""):
            if value is not None and not _fits(value, expected):
                raise BadRequest(
                    f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                    f"json: cannot unmarshal {_json_type(value)} into Go struct field "
                    f"{where} of type {expected}"
                )


def _values(node: Any, parts: list[str], where: str) -> list[tuple[str, Any]]:
    """Every value at ``parts`` under ``node`` (``x[]`` fans out over a list)."""
    if not parts:
        return [(where, node)]
    head, rest = parts[0], parts[1:]
    many = head.endswith("[]")
    key = head.removesuffix("[]")
    if not isinstance(node, Mapping) or key not in node:
        return []
    child = node[key]
    here = f"{where}.{key}" if where else key
    if not many:
        return _values(child, rest, here)
    if not isinstance(child, list):
        return []  # the list's own type is checked by its own entry
    found = []
    for i, item in enumerate(child):
        found.extend(_values(item, rest, f"{here}[{i}]"))
    return found


def _fits(value: Any, expected: str) -> bool:
    if expected == _STR:
        return isinstance(value, str)
    if expected == _DICT:
        return isinstance(value, dict)
    if expected == _LIST:
        return isinstance(value, list)
    if expected == _BOOL:
        return isinstance(value, bool)
    if expected == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == _STR_MAP:
        return isinstance(value, dict) and all(
            isinstance(v, str) or v is None for v in value.values()
        )
    raise AssertionError(f"unknown shape type {expected}")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
