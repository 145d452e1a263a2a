"""A small validator for CRD schemas, as the API server applies them.

It checks what matters for Cairn's CRDs: that a schema is *structural* (every
node has a type, or preserves unknown fields, or is int-or-string; no
``additionalProperties`` beside ``properties``), and validates objects the way
the API server does, including **pruning**: a field the schema does not
declare is reported, because a real API server silently drops it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_VALUE_KEYWORDS = {
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "uniqueItems",
    "format",
    "required",
    "minProperties",
    "maxProperties",
    "multipleOf",
}
_LOGIC_KEYWORDS = {"oneOf", "anyOf", "allOf", "not"}
_ALLOWED = (
    _VALUE_KEYWORDS
    | _LOGIC_KEYWORDS
    | {
        "type",
        "properties",
        "additionalProperties",
        "items",
        "description",
        "default",
        "nullable",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-embedded-resource",
        "example",
        "title",
    }
)


def structural_problems(schema: dict[str, Any], path: str = "") -> Iterator[str]:
    """Every way ``schema`` is not a structural schema the API server accepts."""
    unknown = set(schema) - _ALLOWED
    if unknown:
        yield f"{path or '<root>'}: unsupported keywords {sorted(unknown)}"
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    int_or_string = schema.get("x-kubernetes-int-or-string") is True
    if "type" not in schema and not preserve and not int_or_string:
        yield f"{path or '<root>'}: no type"
    if "properties" in schema and "additionalProperties" in schema:
        yield f"{path}: properties and additionalProperties are mutually exclusive"
    if schema.get("type") == "array" and "items" not in schema:
        yield f"{path}: an array needs items"
    for name, sub in (schema.get("properties") or {}).items():
        yield from structural_problems(sub, f"{path}.{name}")
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        yield from structural_problems(additional, f"{path}.*")
    if isinstance(schema.get("items"), dict):
        yield from structural_problems(schema["items"], f"{path}[]")
    for keyword in _LOGIC_KEYWORDS:
        branches = schema.get(keyword)
        for branch in branches if isinstance(branches, list) else [branches] if branches else []:
            # Inside logic junctors only value validations are allowed.
            forbidden = set(branch) & {
                "type",
                "additionalProperties",
                "items",
                "default",
                "x-kubernetes-preserve-unknown-fields",
                "description",
            }
            if forbidden:
                yield f"{path}.{keyword}: structural schemas forbid {sorted(forbidden)} here"


def problems(value: Any, schema: dict[str, Any], path: str = "") -> Iterator[str]:
    """Validation errors and pruned fields of ``value`` against ``schema``."""
    where = path or "<root>"
    if value is None:
        if not schema.get("nullable"):
            yield f"{where}: null is not allowed"
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, int | str) or isinstance(value, bool):
            yield f"{where}: expected an integer or a string"
        return
    kind = schema.get("type")
    if kind is not None and not _is_type(value, kind):
        yield f"{where}: expected {kind}, got {type(value).__name__} {value!r:.60}"
        return
    yield from _value_checks(value, schema, where)
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        for key in schema.get("required", []):
            if key not in value:
                yield f"{where}: {key} is required"
        for key, item in value.items():
            if path == "" and key == "metadata":
                continue  # ObjectMeta is the API server's own, whatever the schema says
            if properties is not None and key in properties:
                yield from problems(item, properties[key], f"{path}.{key}")
            elif isinstance(additional, dict):
                yield from problems(item, additional, f"{path}.{key}")
            elif additional is True or preserve:
                continue
            else:
                yield f"{path}.{key}: not declared in the schema (the API server prunes it)"
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from problems(item, schema["items"], f"{path}[{i}]")


def _is_type(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    raise AssertionError(f"unknown type {kind}")


def _value_checks(value: Any, schema: dict[str, Any], where: str) -> Iterator[str]:
    if "enum" in schema and value not in schema["enum"]:
        yield f"{where}: {value!r} is not one of {schema['enum']}"
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield f"{where}: {value!r} does not match {schema['pattern']}"
        if "minLength" in schema and len(value) < schema["minLength"]:
            yield f"{where}: shorter than {schema['minLength']}"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield f"{where}: longer than {schema['maxLength']}"
        if schema.get("format") == "date-time" and not _RFC3339.match(value):
            yield f"{where}: {value!r} is not an RFC 3339 date-time"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield f"{where}: {value} is below {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            yield f"{where}: {value} is above {schema['maximum']}"
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield f"{where}: fewer than {schema['minItems']} items"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield f"{where}: more than {schema['maxItems']} items"
    for branch_key, needed in (("oneOf", 1), ("anyOf", None)):
        branches = schema.get(branch_key)
        if branches:
            matches = sum(1 for b in branches if not list(_branch_problems(value, b, where)))
            if (needed == 1 and matches != 1) or (needed is None and matches == 0):
                yield f"{where}: matches {matches} of the {branch_key} alternatives"


def _branch_problems(value: Any, branch: dict[str, Any], where: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key in branch.get("required", []):
            if key not in value:
                yield f"{where}: {key} is required"
    yield from _value_checks(value, branch, where)
