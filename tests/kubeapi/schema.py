"""Structural-schema handling of custom resources: defaulting, pruning, validation.

A real API server silently drops ("prunes") every field a CRD's schema does not
declare — a status field the operator writes but the CRD forgot vanishes. The
emulator does the same, so integration tests catch such a CRD. It also applies
``default`` values and checks the common constraints (type, nullable,
required, enum, min/max, lengths, item counts, pattern, int-or-string).

Not evaluated: ``x-kubernetes-validations`` (CEL), ``format``, ``allOf``/
``anyOf``/``oneOf``/``not``, ``uniqueItems``, ``multipleOf`` and list-type
(``x-kubernetes-list-type``) semantics.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import Invalid
from .jsoncopy import json_copy
from .patching import json_equal
from .resources import ResourceType

_ROOT_KEPT = ("apiVersion", "kind", "metadata")


def admit_custom_object(
    rt: ResourceType, obj: dict[str, Any], *, status_only: bool = False
) -> dict[str, Any]:
    """Prune, default and validate ``obj`` as the API server does on every write.

    ``status_only`` (a status subresource write): as the API server's status
    strategy, only the status is pruned, defaulted and validated; the rest is
    the stored object's, admitted when it was written."""
    schema = rt.schema
    if schema is None:
        return obj
    status_schema = (schema.get("properties") or {}).get("status")
    problems: list[str] = []
    if status_only and isinstance(status_schema, Mapping) and "status" in obj:
        status = _default(_prune(obj["status"], status_schema), status_schema)
        result = {**obj, "status": status}
        _validate(status, status_schema, "status", problems)
    else:
        result = _prune(obj, schema, root=True)
        result = _default(result, schema)
        _validate(result, schema, "", problems, root=True)
    if problems:
        name = (obj.get("metadata") or {}).get("name", "")
        raise Invalid(
            f'{rt.kind}.{rt.group} "{name}" is invalid: ' + ", ".join(problems),
            name=name,
            group=rt.group,
            kind=rt.kind,
            causes=[{"reason": "FieldValueInvalid", "message": p} for p in problems],
        )
    return result


def _preserves(schema: Mapping[str, Any]) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


def _prune(value: Any, schema: Mapping[str, Any], *, root: bool = False) -> Any:
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        keep_meta = root or bool(schema.get("x-kubernetes-embedded-resource"))
        result: dict[str, Any] = {}
        for key, item in value.items():
            if keep_meta and key in _ROOT_KEPT:
                result[key] = item  # ObjectMeta is the server's, never pruned by the schema
            elif key in props:
                result[key] = _prune(item, props[key])
            elif isinstance(additional, Mapping):
                result[key] = _prune(item, additional)
            elif additional is True or _preserves(schema):
                result[key] = item
            # otherwise: an undeclared field; the server drops it without a word
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_prune(item, schema["items"]) for item in value]
    return value


def _default(value: Any, schema: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties") or {}
        result = dict(value)
        for key, sub in props.items():
            if key == "metadata":
                continue  # defaults never apply to ObjectMeta
            if key not in result and "default" in sub:
                result[key] = json_copy(sub["default"])
            if key in result:
                result[key] = _default(result[key], sub)
        additional = schema.get("additionalProperties")
        if isinstance(additional, Mapping):
            for key in result:
                if key not in props:
                    result[key] = _default(result[key], additional)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_default(item, schema["items"]) for item in value]
    return value


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def _type_ok(value: Any, expected: str) -> bool:
    if isinstance(value, bool) and expected in ("integer", "number"):
        return False
    if expected == "number" and isinstance(value, float):
        return True
    if expected == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(expected, (object,)))


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 80 else text[:77] + "..."


def _validate(
    value: Any, schema: Mapping[str, Any], path: str, problems: list[str], *, root: bool = False
) -> None:
    where = path or "<root>"

    def invalid(shown: str, why: str) -> None:
        problems.append(f"{where}: Invalid value: {shown}: {where} in body {why}")

    if value is None:
        if not schema.get("nullable") and not root:
            invalid('"null"', f'must be of type {schema.get("type", "object")}: "null"')
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not (isinstance(value, str) or _type_ok(value, "integer")):
            invalid(_show(value), "must be of type integer or string")
        return
    expected = schema.get("type")
    if expected and not _type_ok(value, expected):
        invalid(_show(value), f"must be of type {expected}: {_show(type(value).__name__)}")
        return
    if "enum" in schema and not any(json_equal(value, v) for v in schema["enum"]):
        allowed = ", ".join(_show(v) for v in schema["enum"])
        problems.append(f"{where}: Unsupported value: {_show(value)}: supported values: {allowed}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            invalid(str(value), f"should be greater than or equal to {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            invalid(str(value), f"should be less than or equal to {schema['maximum']}")
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{where}: Too long: may not be more than {schema['maxLength']} bytes")
        if "minLength" in schema and len(value) < schema["minLength"]:
            invalid(_show(value), f"should be at least {schema['minLength']} chars long")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            invalid(_show(value), f"should match '{schema['pattern']}'")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(
                f"{where}: Too many: {len(value)}: must have at most {schema['maxItems']} items"
            )
        if "minItems" in schema and len(value) < schema["minItems"]:
            invalid(str(len(value)), f"should have at least {schema['minItems']} items")
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                _validate(item, items, f"{path}[{i}]", problems)
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties") or {}
        for key in schema.get("required") or ():
            if key not in value:
                problems.append(f"{_join(path, key)}: Required value")
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if root and key == "metadata" and isinstance(props.get("metadata"), Mapping):
                _validate_object_meta(item, props["metadata"], problems)
            if root and key in _ROOT_KEPT:
                continue
            if key in props:
                _validate(item, props[key], _join(path, key), problems)
            elif isinstance(additional, Mapping):
                _validate(item, additional, _join(path, key), problems)
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            limit = schema["maxProperties"]
            problems.append(f"{where}: Too many: {len(value)}: must have at most {limit} items")


def _validate_object_meta(meta: Any, schema: Mapping[str, Any], problems: list[str]) -> None:
    # A CRD may only constrain metadata.name and metadata.generateName.
    props: Mapping[str, Any] = schema.get("properties") or {}
    for key in ("name", "generateName"):
        if isinstance(meta, Mapping) and key in meta and isinstance(props.get(key), Mapping):
            _validate(meta[key], props[key], f"metadata.{key}", problems)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
