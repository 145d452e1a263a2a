"""Syntax of ``on.schedule[].cron``: POSIX cron's five fields.

GitHub documents ``minute hour day-of-month month day-of-week`` with ``*``,
``,``, ``-`` and ``/``; months may be ``JAN``-``DEC`` and weekdays
``SUN``-``SAT``. The shortest interval GitHub runs is every 5 minutes, but a
shorter one is not an error there, so it is not one here either.
"""

from __future__ import annotations

from cairn.errors import CairnError

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

#: name, lowest, highest, names (value = index + lowest)
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)


class CronError(CairnError):
    """A cron expression is malformed."""


def check_cron(expression: str) -> None:
    """Raise ``CronError`` with a specific message when ``expression`` is malformed."""
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(
            f"cron {expression!r} must have 5 fields (minute hour day-of-month month "
            f"day-of-week), not {len(fields)}"
        )
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        for item in text.split(","):
            _check_item(item, name, low, high, names, expression)


def _check_item(
    item: str, name: str, low: int, high: int, names: tuple[str, ...], expression: str
) -> None:
    if not item:
        raise CronError(f"cron {expression!r}: empty list item in the {name} field")
    base, _, step = item.partition("/")
    if step:
        if not step.isdigit() or int(step) == 0:
            raise CronError(
                f"cron {expression!r}: step {step!r} in the {name} field must be a positive number"
            )
    elif "/" in item:
        raise CronError(f"cron {expression!r}: missing step after '/' in the {name} field")
    if base == "*":
        return
    start_text, dash, end_text = base.partition("-")
    start = _value(start_text, name, low, high, names, expression)
    if dash:
        end = _value(end_text, name, low, high, names, expression)
        if end < start:
            raise CronError(
                f"cron {expression!r}: range {base!r} in the {name} field goes backwards"
            )


def _value(
    text: str, name: str, low: int, high: int, names: tuple[str, ...], expression: str
) -> int:
    if text.upper() in names:
        return names.index(text.upper()) + low
    if not text.isdigit():
        raise CronError(f"cron {expression!r}: {text!r} is not a valid {name}")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"cron {expression!r}: {name} {value} is out of range ({low}-{high})")
    return value
