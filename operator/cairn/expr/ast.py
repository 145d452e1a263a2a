"""The syntax tree of an expression.

Nodes are immutable. Each records its offset in the source (for error
positions) and its depth, so the parser can enforce GitHub's depth limit as the
tree grows instead of walking it recursively afterwards.
"""

from __future__ import annotations

from typing import Any


class Node:
    __slots__ = ("depth", "pos")
    depth: int
    pos: int

    def __init__(self, pos: int, *children: Node) -> None:
        self.pos = pos
        self.depth = 1 + max((c.depth for c in children), default=0)

    def children(self) -> tuple[Node, ...]:
        return ()


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, value: Any) -> None:
        super().__init__(pos)
        self.value = value


class ContextRef(Node):
    """A context name (``github``, ``matrix``...), stored lower-cased: GitHub
    matches context names case-insensitively."""

    __slots__ = ("name",)

    def __init__(self, pos: int, name: str) -> None:
        super().__init__(pos)
        self.name = name


class Property(Node):
    """``target.name``: the same as ``target['name']``."""

    __slots__ = ("name", "target")

    def __init__(self, pos: int, target: Node, name: str) -> None:
        super().__init__(pos, target)
        self.target = target
        self.name = name

    def children(self) -> tuple[Node, ...]:
        return (self.target,)


class Index(Node):
    """``target[index]``."""

    __slots__ = ("index", "target")

    def __init__(self, pos: int, target: Node, index: Node) -> None:
        super().__init__(pos, target, index)
        self.target = target
        self.index = index

    def children(self) -> tuple[Node, ...]:
        return (self.target, self.index)


class Filter(Node):
    """``target.*`` or ``target[*]``: the object filter."""

    __slots__ = ("target",)

    def __init__(self, pos: int, target: Node) -> None:
        super().__init__(pos, target)
        self.target = target

    def children(self) -> tuple[Node, ...]:
        return (self.target,)


class Not(Node):
    __slots__ = ("operand",)

    def __init__(self, pos: int, operand: Node) -> None:
        super().__init__(pos, operand)
        self.operand = operand

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


class Logical(Node):
    """``a && b && c`` or ``a || b || c``, flattened as GitHub flattens them."""

    __slots__ = ("op", "operands")

    def __init__(self, pos: int, op: str, operands: tuple[Node, ...]) -> None:
        super().__init__(pos, *operands)
        self.op = op
        self.operands = operands

    def children(self) -> tuple[Node, ...]:
        return self.operands


class Comparison(Node):
    """``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``."""

    __slots__ = ("left", "op", "right")

    def __init__(self, pos: int, op: str, left: Node, right: Node) -> None:
        super().__init__(pos, left, right)
        self.op = op
        self.left = left
        self.right = right

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


class Call(Node):
    """A function call. ``name`` is the canonical lower-case name; ``spelled`` is
    how the source wrote it (function names are case-insensitive)."""

    __slots__ = ("args", "name", "spelled")

    def __init__(self, pos: int, name: str, spelled: str, args: tuple[Node, ...]) -> None:
        super().__init__(pos, *args)
        self.name = name
        self.spelled = spelled
        self.args = args

    def children(self) -> tuple[Node, ...]:
        return self.args


class Concat(Node):
    """A template used where one value is expected (an ``if:`` mixing text and
    ``${{ }}``): GitHub turns it into ``format()``, so the result is a string."""

    __slots__ = ("parts",)

    def __init__(self, pos: int, parts: tuple[str | Node, ...]) -> None:
        super().__init__(pos, *(p for p in parts if isinstance(p, Node)))
        self.parts = parts

    def children(self) -> tuple[Node, ...]:
        return tuple(p for p in self.parts if isinstance(p, Node))


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents before children (iterative: trees are
    shallow, but this never risks the recursion limit)."""
    result: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        result.append(current)
        stack.extend(reversed(current.children()))
    return result
