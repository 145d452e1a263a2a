"""GITHUB_OUTPUT/GITHUB_ENV/GITHUB_STATE file format, as actions/runner parses it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.runner.errors import FileCommandError
from cairn.runner.filecommands import parse_key_value_file, parse_path_file


def test_simple_pairs_in_order_and_empty_lines_skipped() -> None:
    text = "version=1.2.3\n\nname=cairn\nempty=\nequals=a=b\n"
    assert parse_key_value_file(text) == [
        ("version", "1.2.3"),
        ("name", "cairn"),
        ("empty", ""),
        ("equals", "a=b"),
    ]


def test_heredoc_value_keeps_inner_newlines() -> None:
    text = 'JSON<<EOF_1\n{\n  "a": 1\n}\nEOF_1\nnext=2\n'
    assert parse_key_value_file(text) == [("JSON", '{\n  "a": 1\n}'), ("next", "2")]


def test_heredoc_delimiter_may_end_the_file_without_newline() -> None:
    assert parse_key_value_file("M<<EOF\nhello\nworld\nEOF") == [("M", "hello\nworld")]


def test_empty_heredoc_value() -> None:
    assert parse_key_value_file("M<<EOF\nEOF\n") == [("M", "")]


def test_equals_before_heredoc_marker_is_a_plain_pair() -> None:
    assert parse_key_value_file("A=x<<y\n") == [("A", "x<<y")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("INVALID\n", "Invalid format 'INVALID'"),
        ("=value\n", "Name must not be empty"),
        ("<<EOF\nx\nEOF\n", "Name must not be empty and delimiter must not be empty"),
        ("NAME<<\nx\n", "Name must not be empty and delimiter must not be empty"),
        ("NAME<<EOF\nvalue\n", "Matching delimiter not found 'EOF'"),
        ("NAME<<EOF\nvalue", "EOF marker missing new line"),
    ],
)
def test_malformed_files_are_rejected_with_the_runner_message(text: str, message: str) -> None:
    with pytest.raises(FileCommandError, match=message):
        parse_key_value_file(text)


def test_path_file_lines() -> None:
    assert parse_path_file("/opt/a\n\n/opt/b") == ["/opt/a", "/opt/b"]


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
_lines = st.text(alphabet=st.characters(blacklist_characters="\n\r"), max_size=20)


@settings(max_examples=60, deadline=None)
@given(name=_names, lines=st.lists(_lines, max_size=5))
def test_heredoc_round_trip(name: str, lines: list[str]) -> None:
    delimiter = "ghadelimiter_7c1f"
    value = "\n".join(lines)
    if delimiter in lines:
        return
    text = (
        f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
        if lines
        else f"{name}<<{delimiter}\n{delimiter}\n"
    )
    assert parse_key_value_file(text) == [(name, value)]
