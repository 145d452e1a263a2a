"""GITHUB_OUTPUT/GITHUB_ENV/GITHUB_STATE file format, as actions/runner parses it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.runner.errors import FileCommandError
from cairn.runner.filecommands import CommandFiles, parse_key_value_file, parse_path_file


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


def test_command_files_are_emptied_for_each_step_and_never_follow_a_step_elsewhere(
    tmp_path: Path,
) -> None:
    files = CommandFiles.open(tmp_path / "_runner_file_commands")
    output, env, state = (files.paths[v] for v in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STATE"))
    path, summary = files.paths["GITHUB_PATH"], files.paths["GITHUB_STEP_SUMMARY"]
    assert all(p.read_bytes() == b"" for p in files.paths.values())
    # what one step may do to its files
    output.write_text("a=1\n")
    env.unlink()
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    state.unlink()
    state.symlink_to(precious)
    linked = tmp_path / "linked.txt"
    linked.write_text("keep me too\n")
    path.unlink()
    os.link(linked, path)
    summary.unlink()
    summary.mkdir()
    assert files.read("GITHUB_OUTPUT") == "a=1\n" and files.read("GITHUB_ENV") == ""
    files.empty()
    # the next step finds empty regular files at the same paths...
    for p in files.paths.values():
        assert p.is_file() and not p.is_symlink() and p.read_bytes() == b""
    # ...and nothing the links pointed at was touched
    assert precious.read_text() == "keep me\n"
    assert linked.read_text() == "keep me too\n"
    # a later job in the same RUNNER_TEMP takes the files over, emptied
    output.write_text("left=over\n")
    again = CommandFiles.open(tmp_path / "_runner_file_commands")
    assert again.paths == files.paths
    assert all(p.read_bytes() == b"" for p in again.paths.values())
    # unless they are not all there
    env.unlink()
    fresh = CommandFiles.open(tmp_path / "_runner_file_commands")
    assert set(fresh.paths.values()).isdisjoint(files.paths.values())
    assert sorted(p.name for p in (tmp_path / "_runner_file_commands").iterdir()) == sorted(
        p.name for p in fresh.paths.values()
    )
