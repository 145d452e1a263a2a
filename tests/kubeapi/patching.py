"""PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

Error codes follow the API server: an undecodable patch is 400; a JSON patch
that does not apply (a failed ``test`` op, a missing path) is 422 — Kopf's
optimistic-concurrency patches rely on that 422. Strategic merge patches on
built-in types are applied as merge patches (lists are replaced, not merged
by key) and their ``$patch``-style directives are refused; server-side apply
is not emulated.
"""

from __future__ import annotations

from typing import Any

from .errors import BadRequest, Invalid, UnsupportedMediaType
from .jsoncopy import json_copy
from .resources import ResourceType

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY_YAML = "application/apply-patch+yaml"
APPLY_CBOR = "application/apply-patch+cbor"


def apply_patch(
    rt: ResourceType, content_type: str, target: dict[str, Any], patch: Any
) -> dict[str, Any]:
    """Apply a PATCH body of ``content_type`` to a copy of ``target``."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == MERGE:
        result = merge_patch(target, _require_object(patch))
    elif media == JSON_PATCH:
        result = json_patch(target, patch)
    elif media == STRATEGIC:
        if rt.custom:
            raise UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types include: "
                f"{JSON_PATCH}, {MERGE}, {APPLY_YAML}",
            )
        _refuse_strategic_directives(_require_object(patch), "")
        result = merge_patch(target, patch)
    elif media in (APPLY_YAML, APPLY_CBOR):
        raise UnsupportedMediaType(
            "server-side apply (application/apply-patch+yaml) is not supported by the Cairn API "
            "emulator; use a merge patch or a JSON patch"
        )
    else:
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format {media!r} - accepted media types "
            f"include: {JSON_PATCH}, {MERGE}, {STRATEGIC}"
        )
    if not isinstance(result, dict):
        raise BadRequest("the patch turned the object into a non-object")
    return result


def _require_object(patch: Any) -> dict[str, Any]:
    if not isinstance(patch, dict):
        raise BadRequest(f"a merge patch must be a JSON object, got {type(patch).__name__}")
    return patch


def _refuse_strategic_directives(patch: Any, where: str) -> None:
    if isinstance(patch, dict):
        for key, value in patch.items():
            if key.startswith("$"):
                raise BadRequest(
                    f"strategic merge patch directive {key!r} at {where or '/'} is not "
                    "supported by "
                    "the Cairn API emulator (strategic merge is applied as a JSON merge patch)"
                )
            _refuse_strategic_directives(value, f"{where}/{key}")
    elif isinstance(patch, list):
        for i, item in enumerate(patch):
            _refuse_strategic_directives(item, f"{where}/{i}")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return json_copy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 ------------------------------------------------------------------------------


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: unlike Python's ``==``, ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def json_patch(target: dict[str, Any], ops: Any) -> Any:
    if not isinstance(ops, list):
        raise BadRequest(
            "a JSON patch (application/json-patch+json) must be an array of operations, "
            f"got {type(ops).__name__}"
        )
    doc: Any = json_copy(target)
    for index, op in enumerate(ops):
        if not isinstance(op, dict) or not isinstance(op.get("op"), str) or "path" not in op:
            raise BadRequest(f"JSON patch operation #{index} needs 'op' and 'path': {op!r}")
        doc = _apply_op(doc, op, index)
    return doc


def _unprocessable(index: int, op: dict[str, Any], why: str) -> Invalid:
    return Invalid(
        f"the server rejected our request due to an error in our request: "
        f"JSON patch operation #{index} {op.get('op')} {op.get('path')!r}: {why}"
    )


def _pointer(path: Any, index: int, op: dict[str, Any]) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise BadRequest(f"JSON patch operation #{index}: invalid JSON pointer {path!r}")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, tokens: list[str], index: int, op: dict[str, Any]) -> Any:
    cur = doc
    for token in tokens[:-1]:
        cur = _child(cur, token, index, op)
    return cur


def _child(cur: Any, token: str, index: int, op: dict[str, Any]) -> Any:
    if isinstance(cur, dict):
        if token not in cur:
            raise _unprocessable(index, op, f"missing key {token!r}")
        return cur[token]
    if isinstance(cur, list):
        i = _list_index(cur, token, index, op, allow_end=False)
        return cur[i]
    raise _unprocessable(index, op, f"cannot descend into a {type(cur).__name__} at {token!r}")


def _list_index(
    lst: list[Any], token: str, index: int, op: dict[str, Any], *, allow_end: bool
) -> int:
    if token == "-" and allow_end:
        return len(lst)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise _unprocessable(index, op, f"invalid array index {token!r}")
    i = int(token)
    if i > len(lst) or (i == len(lst) and not allow_end):
        raise _unprocessable(index, op, f"array index {i} out of range")
    return i


def _get(doc: Any, tokens: list[str], index: int, op: dict[str, Any]) -> Any:
    cur = doc
    for token in tokens:
        cur = _child(cur, token, index, op)
    return cur


def _add(doc: Any, tokens: list[str], value: Any, index: int, op: dict[str, Any]) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens, index, op)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_list_index(parent, last, index, op, allow_end=True), value)
    else:
        raise _unprocessable(index, op, "the parent is not an object or an array")
    return doc


def _remove(doc: Any, tokens: list[str], index: int, op: dict[str, Any]) -> tuple[Any, Any]:
    if not tokens:
        raise _unprocessable(index, op, "cannot remove the whole document")
    parent = _parent(doc, tokens, index, op)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _unprocessable(index, op, f"missing key {last!r}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_list_index(parent, last, index, op, allow_end=False))
    raise _unprocessable(index, op, "the parent is not an object or an array")


def _apply_op(doc: Any, op: dict[str, Any], index: int) -> Any:
    kind = op["op"]
    tokens = _pointer(op["path"], index, op)
    if kind in ("add", "replace", "test") and "value" not in op:
        raise BadRequest(f"JSON patch operation #{index} {kind} needs a 'value'")
    if kind == "add":
        return _add(doc, tokens, json_copy(op["value"]), index, op)
    if kind == "remove":
        return _remove(doc, tokens, index, op)[0]
    if kind == "replace":
        doc, _ = _remove(doc, tokens, index, op) if tokens else (doc, None)
        return _add(doc, tokens, json_copy(op["value"]), index, op)
    if kind == "test":
        actual = _get(doc, tokens, index, op)
        if not json_equal(actual, op["value"]):
            raise _unprocessable(
                index, op, f"test failed: expected {op['value']!r}, found {actual!r}"
            )
        return doc
    if kind in ("move", "copy"):
        source = _pointer(op.get("from"), index, op)
        if kind == "move":
            if tokens[: len(source)] == source and len(tokens) > len(source):
                raise _unprocessable(index, op, "cannot move a value into its own child")
            doc, value = _remove(doc, source, index, op)
        else:
            value = json_copy(_get(doc, source, index, op))
        return _add(doc, tokens, value, index, op)
    raise BadRequest(f"JSON patch operation #{index}: unknown op {kind!r}")
