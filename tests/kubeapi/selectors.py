"""Label and field selectors with the API server's grammar and matching rules.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``,
``a notin (x,y)``, ``a>1``, ``a<1``, comma-joined (AND). ``!=`` and ``notin``
also match objects without the label, as on a real server.

Field selectors: ``=``/``==``/``!=`` on ``metadata.name``,
``metadata.namespace`` and the per-type fields the real server indexes;
any other field is refused with ``field label not supported``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import BadRequest
from .resources import ResourceType

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_LABEL_KEY = re.compile(
    rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$"
)
_LABEL_VALUE = re.compile(rf"^({_NAME})?$")


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label/annotation key, or None."""
    prefix, _, name = key.rpartition("/")
    if not _LABEL_KEY.match(key):
        return (
            "must consist of alphanumerics, '-', '_' or '.', "
            "optionally prefixed by a DNS subdomain and '/'"
        )
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if len(prefix) > 253:
        return "prefix part must be no more than 253 characters"
    return None


def label_value_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _LABEL_VALUE.match(value):
        return (
            "must be empty or consist of alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric"
        )
    return None


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if not present:
            return False
        try:
            number = int(value or "")
        except ValueError:
            return False
        return number > int(self.values[0]) if self.op == "gt" else number < int(self.values[0])


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text or not text.strip():
            return cls()
        return cls(tuple(_parse_requirement(part.strip(), text) for part in _split_top_level(text)))


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


_SET_RE = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_CMP_RE = re.compile(r"^(?P<key>[^=!<>\s]+)\s*(?P<op>==|=|!=|>|<)\s*(?P<value>[^=!<>\s]*)$")


def _parse_requirement(part: str, whole: str) -> Requirement:
    def bad(why: str) -> BadRequest:
        return BadRequest(
            f"unable to parse requirement: {part!r} in label selector {whole!r}: {why}"
        )

    if not part:
        raise bad("empty requirement")
    if m := _SET_RE.match(part):
        values = tuple(v.strip() for v in m.group("values").split(",") if v.strip())
        if not values:
            raise bad("a set-based requirement needs at least one value")
        req = Requirement(m.group("key"), m.group("op"), values)
    elif m := _CMP_RE.match(part):
        op = {"==": "=", "=": "=", "!=": "!=", ">": "gt", "<": "lt"}[m.group("op")]
        req = Requirement(m.group("key"), op, (m.group("value"),))
        if op in ("gt", "lt") and not re.fullmatch(r"-?\d+", m.group("value")):
            raise bad(f"{m.group('op')} needs an integer value")
    elif part.startswith("!") and " " not in part[1:].strip():
        req = Requirement(part[1:].strip(), "!")
    elif " " not in part:
        req = Requirement(part, "exists")
    else:
        raise bad("expected key, !key, key=value, key!=value, key in (...) or key notin (...)")
    if problem := label_key_problem(req.key):
        raise bad(f"invalid label key {req.key!r}: {problem}")
    if req.op not in ("gt", "lt"):
        for value in req.values:
            if problem := label_value_problem(value):
                raise bad(f"invalid label value {value!r}: {problem}")
    return req


# --- Field selectors ----------------------------------------------------------------------

FieldGetter = Callable[[Mapping[str, Any]], str]


def _path(*keys: str) -> FieldGetter:
    def get(obj: Mapping[str, Any]) -> str:
        cur: Any = obj
        for key in keys:
            cur = cur.get(key) if isinstance(cur, Mapping) else None
        if cur is None:
            return ""
        if isinstance(cur, bool):
            return "true" if cur else "false"
        return str(cur)

    return get


_COMMON_FIELDS: dict[str, FieldGetter] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}

# The extra fields the real server indexes per type (a subset of its field label conversions).
_TYPE_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    ("", "events"): (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    ("", "secrets"): ("type",),
    ("", "namespaces"): ("status.phase",),
    ("batch", "jobs"): ("status.successful",),
}


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    negated: bool
    value: str
    getter: FieldGetter

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (self.getter(obj) == self.value) != self.negated


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def exact_name(self) -> str | None:
        """The name this selector pins, if any: lets the store skip scanning."""
        for r in self.requirements:
            if r.field == "metadata.name" and not r.negated:
                return r.value
        return None

    @classmethod
    def parse(cls, text: str | None, rt: ResourceType) -> FieldSelector:
        if not text or not text.strip():
            return cls()
        reqs = []
        for part in text.split(","):
            part = part.strip()
            m = re.match(r"^([^=!\s]+)\s*(==|=|!=)\s*(.*)$", part)
            if not m:
                raise BadRequest(
                    f"invalid field selector: {part!r}: expected field=value or field!=value"
                )
            field, op, value = m.groups()
            getter = _field_getter(field, rt)
            reqs.append(FieldRequirement(field, op == "!=", value, getter))
        return cls(tuple(reqs))


def _field_getter(field: str, rt: ResourceType) -> FieldGetter:
    if field in _COMMON_FIELDS:
        return _COMMON_FIELDS[field]
    if field in _TYPE_FIELDS.get(rt.storage, ()):
        if field == "source":
            return _path("source", "component")
        return _path(*field.split("."))
    raise BadRequest(f"field label not supported: {field}")
