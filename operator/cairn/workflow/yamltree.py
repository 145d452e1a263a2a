"""YAML text → a tree of nodes that remember where they came from.

PyYAML's own constructors lose positions and resolve scalars by YAML 1.1
rules (``on`` → ``True``, ``yes``/``no``/``off`` → booleans, ``010`` → 8).
GitHub reads workflows with the YAML 1.2 *core* schema: only
``true/True/TRUE/false/False/FALSE`` are booleans, ``null/Null/NULL/~`` and
the empty scalar are null, numbers are decimal, ``0o`` octal or ``0x`` hex.
So this module composes the tree itself from libyaml's event stream and
resolves plain scalars with the core schema.

Anchors and aliases (which GitHub accepts) make the tree a DAG: an alias
reuses the anchored node object. Every node's *expanded* size (what walking
it would visit, aliases included: nodes, and characters of scalar text) is
computed while composing, from the already-known sizes of its children, so a
"billion laughs" file is refused after a few thousand events, without
anything ever walking the expansion. Counting characters matters as much as
counting nodes: a few thousand aliases of one long string make a small file
whose IR (and every rendering of it) would weigh gigabytes.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import yaml

try:  # the C parser is ~10x faster; fall back to the pure-Python one
    from yaml import CSafeLoader as _EventLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _EventLoader  # type: ignore[assignment]

#: Largest workflow file accepted, in bytes (UTF-8). The compiled IR of a
#: workflow is stored in a ``CIWorkflow`` object, and etcd refuses objects
#: over 1.5 MiB. The IR's JSON (defaults left out) measures 1.2 to 2.3 times
#: the YAML it comes from (the densest case: many one-line steps), so 256 KiB
#: keeps it under about 600 KiB, with room left for the object's status.
MAX_FILE_BYTES = 256 * 1024
#: Largest expanded size (nodes visited with aliases followed). Plain YAML
#: within MAX_FILE_BYTES stays far below it; only alias fan-out gets there.
MAX_EXPANDED_NODES = 250_000
#: Largest expanded text (characters of scalars, aliases followed). Without
#: aliases a file stays within MAX_FILE_BYTES; reusing anchored text may take
#: it to twice that, which keeps the IR well inside a ``CIWorkflow`` object.
MAX_EXPANDED_CHARS = 2 * MAX_FILE_BYTES
#: Deepest nesting of mappings and sequences (workflows need about 8 levels).
MAX_DEPTH = 64

ScalarValue: TypeAlias = str | int | float | bool | None

_NULL = re.compile(r"(?:~|null|Null|NULL)?\Z")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT_DEC = re.compile(r"[-+]?[0-9]+\Z")
_INT_OCT = re.compile(r"0o[0-7]+\Z")
_INT_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"([-+]?)\.(?:inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)\Z")

_STR_TAG = "tag:yaml.org,2002:str"
#: the other core-schema scalar tags, and the Python types a value tagged so must have
_TYPED_TAGS: dict[str, tuple[str, tuple[type, ...]]] = {
    "tag:yaml.org,2002:bool": ("a boolean", (bool,)),
    "tag:yaml.org,2002:int": ("an integer", (int,)),
    "tag:yaml.org,2002:float": ("a number", (int, float)),
    "tag:yaml.org,2002:null": ("null", (type(None),)),
}
_COLLECTION_TAGS = {None, "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


def resolve_plain_scalar(text: str) -> ScalarValue:
    """The value of an unquoted scalar under the YAML 1.2 core schema."""
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT_DEC.match(text):
        return int(text)
    if _INT_OCT.match(text):
        return int(text[2:], 8)
    if _INT_HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    inf = _INF.match(text)
    if inf:
        return float("-inf") if inf.group(1) == "-" else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text


@dataclass(eq=False, slots=True)
class Node:
    """A node's position: 1-based line/column, and character offsets in the source."""

    line: int
    column: int
    start: int
    end: int


@dataclass(eq=False, slots=True)
class Scalar(Node):
    value: ScalarValue
    #: quoted or block scalars are always strings
    plain: bool


@dataclass(eq=False, slots=True)
class Mapping(Node):
    #: in file order; keys are scalars (anything else is a compose error)
    pairs: list[tuple[Scalar, Node]] = field(default_factory=list)

    def items(self) -> list[tuple[str, Scalar, Node]]:
        return [(scalar_key(k), k, v) for k, v in self.pairs]

    def get(self, name: str) -> Node | None:
        for k, v in self.pairs:
            if scalar_key(k) == name:
                return v
        return None


@dataclass(eq=False, slots=True)
class Sequence(Node):
    items: list[Node] = field(default_factory=list)


def scalar_key(key: Scalar) -> str:
    """A mapping key as text. Keys are compared as written (``1`` and ``1.0`` differ)."""
    return scalar_as_text(key.value, str)


def scalar_as_text(value: ScalarValue, number: Callable[[int | float], str]) -> str:
    """A scalar as text: null is empty, booleans lower-case, ``number`` spells numbers."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return number(value)


class SourceText:
    """Maps character offsets of the source back to 1-based line/column."""

    def __init__(self, text: str) -> None:
        self.text = text
        starts = [0]
        find = text.find
        i = find("\n")
        while i != -1:
            starts.append(i + 1)
            i = find("\n", i + 1)
        self._line_starts = starts

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def locate_in(self, node: Node, needle: str, occurrence: int) -> tuple[int, int]:
        """Position of the ``occurrence``-th ``needle`` inside a node's source text;
        the node's own position when the source spells it differently (escapes)."""
        pos = node.start - 1
        for _ in range(occurrence + 1):
            pos = self.text.find(needle, pos + 1, node.end)
            if pos == -1:
                return node.line, node.column
        return self.position(pos)


@dataclass
class ComposeProblem:
    line: int
    column: int
    message: str


class ComposeFatal(Exception):
    """The document cannot be composed at all; carries the one problem."""

    def __init__(self, problem: ComposeProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class Document:
    root: Node | None
    source: SourceText
    #: non-fatal problems (duplicate keys, merge keys): the tree is still usable
    problems: list[ComposeProblem]


@dataclass(frozen=True, slots=True)
class _Size:
    """The expanded size of a node: what walking it (aliases followed) visits."""

    nodes: int
    chars: int


@dataclass(eq=False, slots=True)
class _Frame:
    node: Mapping | Sequence
    anchor: str | None
    nodes: int = 1
    chars: int = 0
    key: Scalar | None = None
    seen: dict[str, Scalar] = field(default_factory=dict)


def compose(text: str) -> Document:
    """Compose one YAML document into positioned nodes.

    Raises ``ComposeFatal`` for YAML syntax errors, several documents, alias
    problems, or limits exceeded; other problems are returned in ``problems``.
    """
    composer = _Composer(text)
    try:
        composer.run()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            message = f"{exc.problem} ({exc.context})"
        raise ComposeFatal(ComposeProblem(line, column, f"YAML syntax error: {message}")) from None
    except yaml.YAMLError as exc:
        raise ComposeFatal(ComposeProblem(1, 1, f"YAML error: {exc}")) from None
    return Document(composer.root, composer.source, composer.problems)


class _Composer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.source = SourceText(text)
        self.root: Node | None = None
        self.problems: list[ComposeProblem] = []
        self.anchors: dict[str, tuple[Node, _Size]] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Frame] = []
        self.documents = 0

    def run(self) -> None:
        for event in yaml.parse(self.text, Loader=_EventLoader):
            kind = type(event)
            if kind is yaml.ScalarEvent:
                self._scalar(event)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                self._start(event)
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                self._end(event)
            elif kind is yaml.AliasEvent:
                self._alias(event)
            elif kind is yaml.DocumentStartEvent:
                self.documents += 1
                if self.documents > 1:
                    self._fatal(event, "a workflow file must hold exactly one YAML document")

    # -- helpers ---------------------------------------------------------------

    @staticmethod
    def _position(event: Any) -> tuple[int, int, int, int]:
        start, end = event.start_mark, event.end_mark
        return start.line + 1, start.column + 1, start.index, end.index

    def _fatal(self, event: Any, message: str) -> None:
        line, column, _, _ = self._position(event)
        raise ComposeFatal(ComposeProblem(line, column, message))

    def _check_tag(self, event: Any, tag: str | None, allowed: set[str | None]) -> None:
        if tag not in allowed:
            self.problems.append(
                ComposeProblem(
                    event.start_mark.line + 1,
                    event.start_mark.column + 1,
                    f"YAML tag {tag!r} is not supported in workflow files",
                )
            )

    def _add(self, node: Node, size: _Size, event: Any) -> None:
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        frame.nodes += size.nodes
        frame.chars += size.chars
        if frame.nodes > MAX_EXPANDED_NODES:
            self._fatal(
                event,
                f"the document expands to more than {MAX_EXPANDED_NODES} nodes through "
                "YAML aliases; refusing to expand it (an alias/anchor bomb?)",
            )
        if frame.chars > MAX_EXPANDED_CHARS:
            self._fatal(
                event,
                f"the document expands to more than {MAX_EXPANDED_CHARS} characters of text "
                "through YAML aliases; refusing to expand it (an alias/anchor bomb?)",
            )
        parent = frame.node
        if isinstance(parent, Sequence):
            parent.items.append(node)
            return
        if frame.key is None:
            if not isinstance(node, Scalar):
                self._fatal(event, "mapping keys must be strings, not mappings or sequences")
            assert isinstance(node, Scalar)
            name = scalar_key(node)
            if node.value is None:
                self.problems.append(ComposeProblem(node.line, node.column, "empty mapping key"))
            elif node.plain and name == "<<":
                self.problems.append(
                    ComposeProblem(
                        node.line,
                        node.column,
                        "YAML merge keys ('<<') are not supported by GitHub Actions; "
                        "use an alias of the whole mapping instead",
                    )
                )
            elif name in frame.seen:
                first = frame.seen[name]
                self.problems.append(
                    ComposeProblem(
                        node.line,
                        node.column,
                        f"duplicate key {name!r} (first defined at line {first.line})",
                    )
                )
            else:
                frame.seen[name] = node
            frame.key = node
        else:
            parent.pairs.append((frame.key, node))
            frame.key = None

    def _register(self, anchor: str | None, node: Node, size: _Size) -> None:
        if anchor is not None:
            self.anchors[anchor] = (node, size)
            self.open_anchors.discard(anchor)

    # -- events ----------------------------------------------------------------

    def _scalar(self, event: Any) -> None:
        line, column, start, end = self._position(event)
        tag = event.tag
        plain = not event.style and tag is None
        value: ScalarValue = resolve_plain_scalar(event.value) if plain else event.value
        if tag in _TYPED_TAGS:
            what, types = _TYPED_TAGS[tag]
            value = resolve_plain_scalar(event.value)
            if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
                self.problems.append(
                    ComposeProblem(line, column, f"{event.value!r} is not {what}, as its tag says")
                )
                value = event.value
            plain = True
        elif tag is not None and tag != "!":
            self._check_tag(event, tag, {_STR_TAG})
        node = Scalar(line, column, start, end, value, plain)
        size = _Size(1, len(event.value))
        self._register(event.anchor, node, size)
        self._add(node, size, event)

    def _start(self, event: Any) -> None:
        if len(self.stack) >= MAX_DEPTH:
            self._fatal(event, f"the document nests deeper than {MAX_DEPTH} levels")
        self._check_tag(event, event.tag, _COLLECTION_TAGS)
        line, column, start, end = self._position(event)
        node: Mapping | Sequence
        if type(event) is yaml.MappingStartEvent:
            node = Mapping(line, column, start, end)
        else:
            node = Sequence(line, column, start, end)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Frame(node, event.anchor))

    def _end(self, event: Any) -> None:
        frame = self.stack.pop()
        frame.node.end = event.end_mark.index
        size = _Size(frame.nodes, frame.chars)
        self._register(frame.anchor, frame.node, size)
        self._add(frame.node, size, _MarkOf(frame.node))

    def _alias(self, event: Any) -> None:
        name = event.anchor
        if name in self.open_anchors:
            self._fatal(event, f"recursive YAML alias *{name} refers to a node that contains it")
        if name not in self.anchors:
            self._fatal(event, f"YAML alias *{name} refers to an undefined anchor &{name}")
        node, size = self.anchors[name]
        self._add(node, size, event)


class _MarkOf:
    """Quacks like an event, pointing at a node (for errors raised on end events)."""

    def __init__(self, node: Node) -> None:
        self.start_mark = _Mark(node.line - 1, node.column - 1, node.start)
        self.end_mark = _Mark(node.line - 1, node.column - 1, node.end)


@dataclass
class _Mark:
    line: int
    column: int
    index: int
