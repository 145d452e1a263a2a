"""The engine's errors. Each says what was wrong with which input."""

from __future__ import annotations

from cairn.errors import CairnError


class EngineError(CairnError):
    """Base class of the engine's errors."""


class InvalidRunError(EngineError):
    """The run spec cannot be executed: its plan is inconsistent (unknown
    needs, duplicate instance ids, a cycle) or a setting is out of range."""


class CheckpointError(EngineError):
    """A checkpoint (the state JSON) is malformed, of an unknown version, or
    belongs to another run than the one it is decided against."""


class InvalidEventError(EngineError):
    """An event is not one of the engine's event types, or is malformed."""


class InvalidTimeError(EngineError):
    """A time given to the engine is naive: the engine only compares instants."""
