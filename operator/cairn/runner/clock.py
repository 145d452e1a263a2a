"""The runner reads wall-clock time only through a :class:`Clock`, so tests
and the local executor can pin timestamps. Timeouts are measured on the event
loop's monotonic clock, which tests shorten through
:class:`~cairn.runner.settings.RunnerSettings` instead of faking time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
