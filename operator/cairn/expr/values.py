"""Values of the expression language and GitHub's coercion rules.

GitHub's expression values are JSON values: null, booleans, numbers (IEEE
doubles), strings, arrays and objects. Here they are the Python values a JSON
decoder produces (``None``, ``bool``, ``int``/``float``, ``str``, ``list``,
``dict``); tuples and other ``Mapping``s are accepted too, since contexts may
be built from frozen models.

The rules follow GitHub's documentation ("Evaluate expressions in workflows
and actions") and, where the documentation is silent, the behaviour of
GitHub's runner, which is the reference implementation:

* loose equality coerces mismatched types to numbers; strings compare
  ignoring case; NaN equals nothing; arrays and objects are equal only to
  themselves (the same instance);
* a string is parsed as a number the way the runner parses it (``''`` is 0,
  ``0x`` hex and ``0o`` octal are recognised, anything else is NaN);
* a value becomes a string as ``format()`` renders it (numbers with up to 15
  significant digits, arrays and objects as ``Array``/``Object``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from cairn.expr.errors import ExpressionEvaluationError

# Value kinds. Small ints so the hot paths compare cheaply.
NULL: Final = 0
BOOL: Final = 1
NUMBER: Final = 2
STRING: Final = 3
ARRAY: Final = 4
OBJECT: Final = 5

KIND_NAMES: Final = ("Null", "Boolean", "Number", "String", "Array", "Object")

#: GitHub caps the size of any intermediate result; so do we, so that
#: ``format('{0}{0}{0}…', huge)`` cannot exhaust memory.
MAX_RESULT_CHARS: Final = 10 * 1024 * 1024

#: Beyond this magnitude an integer is no longer exactly a double, and
#: GitHub (which only has doubles) would print it in exponent form.
_MAX_EXACT_INT: Final = 10**15


class FilteredArray(list[Any]):
    """The result of an object filter (``.*`` / ``[*]``).

    It is an array, but indexing it applies the index to each element and
    collects what exists (``labels.*.name``), which is why it needs its own
    type."""

    __slots__ = ()


_EXACT_KINDS: Final[dict[type, int]] = {
    type(None): NULL,
    bool: BOOL,
    int: NUMBER,
    float: NUMBER,
    str: STRING,
    list: ARRAY,
    tuple: ARRAY,
    FilteredArray: ARRAY,
    dict: OBJECT,
}


def kind_of(value: Any) -> int:
    """The kind of a value; raises for types that are not JSON-like."""
    kind = _EXACT_KINDS.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, Mapping):
        return OBJECT
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return ARRAY
    raise ExpressionEvaluationError(
        f"unsupported value of type {type(value).__name__} in an expression "
        "(contexts must hold JSON-like values)"
    )


def is_primitive(kind: int) -> bool:
    return kind <= STRING


# --- numbers -----------------------------------------------------------------

# What .NET's Double.TryParse accepts with AllowLeadingSign | AllowDecimalPoint
# | AllowExponent: ASCII digits only, no underscores, no "inf"/"nan" words.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_OCTAL = re.compile(r"0o[0-7]+")
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1


def parse_number(text: str) -> float:
    """A string as a number, as GitHub coerces it (NaN when it is not one)."""
    text = text.strip()
    if not text:
        return 0.0
    if _DECIMAL.fullmatch(text):
        return float(text)
    if _HEX.fullmatch(text):
        # The runner parses hex into a signed 32-bit integer: eight digits
        # wrap around (0xffffffff is -1) and more than eight do not fit.
        digits = text[2:].lstrip("0") or "0"
        if len(digits) > 8:
            return math.nan
        value = int(digits, 16)
        return float(value - 2**32 if value > _INT32_MAX else value)
    if _OCTAL.fullmatch(text):
        value = int(text[2:], 8)
        return float(value) if value <= _INT32_MAX else math.nan
    if text == "Infinity":
        return math.inf
    if text == "-Infinity":
        return -math.inf
    return math.nan


def as_float(value: int | float) -> float:
    """A number as a double, as GitHub stores every number."""
    if type(value) is float:
        return value
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def to_number(value: Any, kind: int | None = None) -> float:
    """A value as a number: null is 0, booleans 0/1, strings parsed, others NaN."""
    if kind is None:
        kind = kind_of(value)
    if kind == NUMBER:
        return as_float(value)
    if kind == STRING:
        return parse_number(value)
    if kind == BOOL:
        return 1.0 if value else 0.0
    if kind == NULL:
        return 0.0
    return math.nan


def normalize_number(value: float) -> int | float:
    """An integral double as an int, so that results print as ``3``, not ``3.0``."""
    if (
        value.is_integer()
        and abs(value) < 2**53
        and not (value == 0 and math.copysign(1, value) < 0)
    ):
        return int(value)
    return value


def format_number(value: int | float) -> str:
    """A number as GitHub renders it: up to 15 significant digits (.NET's ``G15``)."""
    if type(value) is int and -_MAX_EXACT_INT < value < _MAX_EXACT_INT:
        return str(value)
    number = as_float(value)
    if number != number:
        return "NaN"
    if number == math.inf:
        return "Infinity"
    if number == -math.inf:
        return "-Infinity"
    return format(number, ".15G")


# --- strings, truthiness ------------------------------------------------------


def bounded_join(pieces: Iterable[str], what: str) -> str:
    """The concatenation of ``pieces``, failing as soon as it would pass
    ``MAX_RESULT_CHARS``: the oversized string is never built, and pieces after
    the limit are never computed."""
    out: list[str] = []
    size = 0
    for piece in pieces:
        size += len(piece)
        if size > MAX_RESULT_CHARS:
            raise ExpressionEvaluationError(
                f"{what} result exceeds the maximum size of {MAX_RESULT_CHARS} characters"
            )
        out.append(piece)
    return "".join(out)


def fold(text: str) -> str:
    """A string folded for GitHub's case-insensitive comparisons (.NET's
    OrdinalIgnoreCase upper-cases one character at a time)."""
    if text.isascii():
        return text.upper()
    return "".join(c if len(u := c.upper()) != 1 else u for c in text)


def github_string(value: Any, kind: int | None = None) -> str:
    """A value as ``format()`` and templates render it (arrays → ``Array``)."""
    if kind is None:
        kind = kind_of(value)
    if kind == STRING:
        return str(value)
    if kind == NULL:
        return ""
    if kind == BOOL:
        return "true" if value else "false"
    if kind == NUMBER:
        return format_number(value)
    return KIND_NAMES[kind]


def to_str(value: Any) -> str:
    """A value as a string: null → ``''``, booleans → ``true``/``false``, numbers as
    GitHub prints them (``1.50`` → ``1.5``, ``3.0`` → ``3``), strings as they are,
    arrays and objects as JSON (pretty-printed, as ``toJSON`` prints them).

    This is the conversion for places that need a string out of a value that an
    expression produced. Inside templates and ``format()`` GitHub renders arrays
    and objects as ``Array``/``Object``; ``Template.render`` follows GitHub."""
    kind = kind_of(value)
    if kind >= ARRAY:
        return to_json(value)
    return github_string(value, kind)


def truthy(value: Any) -> bool:
    """GitHub truthiness: ``false``, ``0``, ``-0``, ``''``, ``null`` and NaN are falsy."""
    kind = kind_of(value)
    if kind == BOOL:
        return bool(value)
    if kind == STRING:
        return len(value) > 0
    if kind == NULL:
        return False
    if kind == NUMBER:
        number = as_float(value)
        return number == number and number != 0
    return True


# --- comparison ---------------------------------------------------------------


def _coerce(left: Any, right: Any) -> tuple[int, Any, int, Any]:
    """GitHub's type coercion before comparing: mismatched primitive kinds meet
    as numbers; arrays and objects are never converted."""
    lk = kind_of(left)
    rk = kind_of(right)
    while lk != rk:
        if lk == NUMBER and rk == STRING:
            right, rk = parse_number(right), NUMBER
        elif lk == STRING and rk == NUMBER:
            left, lk = parse_number(left), NUMBER
        elif lk in (BOOL, NULL):
            left, lk = to_number(left, lk), NUMBER
        elif rk in (BOOL, NULL):
            right, rk = to_number(right, rk), NUMBER
        else:
            break
    return lk, left, rk, right


def loose_equal(left: Any, right: Any) -> bool:
    """GitHub's ``==``."""
    if type(left) is str and type(right) is str:
        return left == right or fold(left) == fold(right)
    lk, left, rk, right = _coerce(left, right)
    if lk != rk:
        return False
    if lk == NUMBER:
        return as_float(left) == as_float(right)  # NaN == NaN is false, as it should be
    if lk == STRING:
        return left == right or fold(left) == fold(right)
    if lk == BOOL:
        return bool(left) == bool(right)
    if lk == NULL:
        return True
    return left is right


def compare(left: Any, right: Any) -> int | None:
    """The order of two values for ``<``, ``<=``, ``>``, ``>=``: -1, 0, 1, or
    ``None`` when they are unordered (NaN, arrays, objects, mismatched kinds).
    0 means *equal by* ``==``."""
    lk, left, rk, right = _coerce(left, right)
    if lk != rk:
        return None
    if lk == NUMBER:
        a, b = as_float(left), as_float(right)
        if a != a or b != b:
            return None
        return -1 if a < b else (1 if a > b else 0)
    if lk == STRING:
        x, y = fold(left), fold(right)
        return -1 if x < y else (1 if x > y else 0)
    if lk == BOOL:
        return int(bool(left)) - int(bool(right))
    if lk == NULL:
        return 0
    return 0 if left is right else None


# --- JSON ---------------------------------------------------------------------


#: toJSON refuses values nested deeper than this (real contexts are a few
#: levels deep; the bound keeps the writer far from the recursion limit).
MAX_JSON_DEPTH: Final = 200


def _json_double(number: float) -> str:
    """A double as Newtonsoft.Json writes it (GitHub's toJSON): the shortest
    round-trip digits, exponent form from 1e15 up and below 1e-5, ``E``."""
    text = repr(number)
    if "e" not in text:
        if abs(number) < 1e15:
            return text
        text = format(Decimal(text), "e")
    mantissa, exponent = text.split("e")
    power = int(exponent)
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}E{'+' if power >= 0 else '-'}{abs(power):02d}"


def _json_number(value: int | float) -> str:
    if type(value) is int and -(2**63) <= value < 2**63:
        return str(value)
    number = as_float(value)
    if number != number or number in (math.inf, -math.inf):
        return '"' + format_number(number) + '"'
    if number.is_integer() and -(2**63) <= number < 2**63:
        return str(int(number))
    return _json_double(number)


# Newtonsoft.Json also escapes these line and paragraph separators.
_EXTRA_JSON_ESCAPES: Final = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).translate(_EXTRA_JSON_ESCAPES)


def _write_json(value: Any, indent: str, out: list[str], depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ExpressionEvaluationError(
            f"toJSON(): the value is nested deeper than {MAX_JSON_DEPTH} levels"
        )
    kind = kind_of(value)
    if kind == STRING:
        out.append(_json_string(str(value)))
    elif kind == NUMBER:
        out.append(_json_number(value))
    elif kind == BOOL:
        out.append("true" if value else "false")
    elif kind == NULL:
        out.append("null")
    elif len(value) == 0:
        out.append("{}" if kind == OBJECT else "[]")
    else:
        inner = indent + "  "
        items = value.items() if kind == OBJECT else enumerate(value)
        out.append("{" if kind == OBJECT else "[")
        for position, (key, element) in enumerate(items):
            out.append(",\n" + inner if position else "\n" + inner)
            if kind == OBJECT:
                out.append(_json_string(str(key)) + ": ")
            _write_json(element, inner, out, depth + 1)
        out.append("\n" + indent + ("}" if kind == OBJECT else "]"))


def to_json(value: Any) -> str:
    """``toJSON``: JSON pretty-printed with two-space indentation, as GitHub
    prints it (integral numbers without a decimal point, non-ASCII unescaped)."""
    out: list[str] = []
    try:
        _write_json(value, "", out, 0)
    except RecursionError as exc:
        raise ExpressionEvaluationError("toJSON(): the value is nested too deeply") from exc
    text = "".join(out)
    if len(text) > MAX_RESULT_CHARS:
        raise ExpressionEvaluationError(
            f"toJSON(): the result exceeds the maximum size of {MAX_RESULT_CHARS} characters"
        )
    return text


def from_json(text: str) -> Any:
    """``fromJSON``: a JSON document as a value."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ExpressionEvaluationError(
            f"fromJSON(): the argument is not valid JSON ({exc})"
        ) from exc


def plain(value: Any) -> Any:
    """A result as handed back to callers: a filter result becomes a plain list."""
    if type(value) is FilteredArray:
        return list(value)
    return value
