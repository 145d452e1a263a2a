from __future__ import annotations

import re

import pytest

from cairn.workflow.cron import CronError, check_cron


@pytest.mark.parametrize(
    "cron",
    [
        "30 5 * * 1,3",
        "0 0 * * *",
        "*/15 * * * *",
        "30 5,17 * * *",
        "0 4 1-7 JAN,jul MON-FRI",
        "0 0 1 */3 SUN",
        "5-55/10 * * * 6",
    ],
)
def test_valid_cron(cron: str) -> None:
    check_cron(cron)


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("* * * *", "must have 5 fields"),
        ("60 * * * *", "minute 60 is out of range (0-59)"),
        ("0 24 * * *", "hour 24 is out of range"),
        ("0 0 0 * *", "day of month 0 is out of range (1-31)"),
        ("0 0 * 13 *", "month 13 is out of range"),
        ("0 0 * * 7", "day of week 7 is out of range (0-6)"),
        ("0 0 * * FUNDAY", "'FUNDAY' is not a valid day of week"),
        ("*/0 * * * *", "must be a positive number"),
        ("10-5 * * * *", "goes backwards"),
        ("1,,2 * * * *", "empty list item"),
    ],
)
def test_invalid_cron(cron: str, message: str) -> None:
    with pytest.raises(CronError, match=re.escape(message)):
        check_cron(cron)
