"""Copying JSON documents: what the store keeps and hands out.

``copy.deepcopy`` handles any object graph (memo, dispatch per type), which
made copying a 140 KiB CIWorkflow cost ~10 ms per write: the emulation then
spent more time copying than a real API server spends on the whole request.
Objects here are JSON (dicts, lists and immutable scalars), so a plain
recursive copy does; anything else (a tuple or a value a test put in) goes
through ``deepcopy`` still.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

T = TypeVar("T")

_SCALARS = (str, int, float, bool, type(None))


def json_copy(value: T) -> T:
    """A deep copy of a JSON document."""
    return _copy(value)


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: item if type(item) in _SCALARS else _copy(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _SCALARS else _copy(item) for item in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)
