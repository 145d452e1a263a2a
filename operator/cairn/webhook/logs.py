"""JSON-lines logs, each line carrying the delivery id and run name in scope.

Handlers set the context once (``log_context``); every line logged while it
is active, by any module, carries it, so one ``grep`` on a delivery id finds
its whole story.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

LOGGER_NAME = "cairn.webhook"
logger = logging.getLogger(LOGGER_NAME)

_delivery: ContextVar[str | None] = ContextVar("cairn_webhook_delivery", default=None)
_run: ContextVar[str | None] = ContextVar("cairn_webhook_run", default=None)


@contextmanager
def log_context(*, delivery: str | None = None, run: str | None = None) -> Iterator[None]:
    tokens = [_delivery.set(delivery), _run.set(run)]
    try:
        yield
    finally:
        _run.reset(tokens[1])
        _delivery.reset(tokens[0])


def set_run(run: str | None) -> None:
    """Name the run once it is known, for the rest of the current context."""
    _run.set(run)


class JsonLineFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "delivery", "run", ...fields}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "delivery": _delivery.get(),
            "run": _run.get(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({k: v for k, v in fields.items() if k not in line})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send the receiver's logs (and aiohttp's) to ``stream`` as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log repeats what the receiver logs, without the context
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
