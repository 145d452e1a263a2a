"""Workflow command parsing and processing, as GitHub's runner does it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.engine.jobspec import Annotation
from cairn.runner.commands import StepCommandProcessor, StopState, parse_command
from cairn.runner.masking import SecretMasker


def test_parse_v2_command_with_escaped_properties_and_data() -> None:
    cmd = parse_command("  ::error file=app%2Cv2.js,line=10,title=A%3AB::Missing%0Asemicolon%25")
    assert cmd is not None
    assert cmd.name == "error"
    assert cmd.properties == {"file": "app,v2.js", "line": "10", "title": "A:B"}
    assert cmd.data == "Missing\nsemicolon%"


def test_names_and_keys_are_case_insensitive() -> None:
    cmd = parse_command("::WARNING File=a.py::x")
    assert cmd is not None and cmd.name == "warning" and cmd.properties == {"file": "a.py"}


@pytest.mark.parametrize("line", ["::unknown::x", "no command", "::error", "text ::error::x"])
def test_non_commands_are_plain_output(line: str) -> None:
    assert parse_command(line) is None


def test_legacy_form() -> None:
    cmd = parse_command("##[set-output name=x;]va%3Blue")
    assert cmd is not None and cmd.name == "set-output"
    assert cmd.properties == {"name": "x"} and cmd.data == "va;lue"


class Harness:
    def __init__(self, tmp_path: Path, env: dict[str, str] | None = None, debug: bool = False):
        self.lines: list[tuple[str, str]] = []
        self.annotations: list[Annotation] = []
        self.masker = SecretMasker()
        self.stop = StopState()
        self.proc = self.new(tmp_path, env or {}, debug)

    def new(self, tmp_path: Path, env: dict[str, str], debug: bool) -> StepCommandProcessor:
        return StepCommandProcessor(
            step_name="step",
            masker=self.masker,
            stop=self.stop,
            emit=lambda kind, text: self.lines.append((kind, self.masker.mask(text))),
            report=self.annotations.append,
            env=env,
            workspace=tmp_path,
            debug=debug,
        )

    def feed(self, *lines: str) -> None:
        for line in lines:
            self.proc.feed(line)


def test_annotations_with_location_relative_to_workspace(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.feed(
        f"::error file={tmp_path}/src/app.py,line=3,endLine=4,col=5,endColumn=9,title=Bad::boom",
        "::notice::fyi",
    )
    error, notice = h.annotations
    assert error.file == "src/app.py"
    assert (error.line, error.end_line, error.column, error.end_column) == (3, 4, 5, 9)
    assert error.title == "Bad" and error.message == "boom" and error.level == "error"
    assert notice.level == "notice" and notice.file is None
    assert h.lines == []  # annotation commands are not echoed
    assert not h.proc.failed


def test_add_mask_masks_following_lines(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.feed("::add-mask::hunter2", "password is hunter2")
    assert h.lines == [("output", "password is ***")]


def test_group_and_debug(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.feed("::group::Install", "::debug::hidden", "x", "::endgroup::")
    assert h.lines == [("group", "Install"), ("output", "x"), ("endgroup", "")]
    d = Harness(tmp_path, debug=True)
    d.feed("::debug::shown")
    assert d.lines == [("debug", "shown")]


def test_stop_commands_until_token(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.feed(
        "::stop-commands::pause-123", "::warning::not a warning", "::pause-123::", "::warning::w"
    )
    assert [a.message for a in h.annotations] == ["w"]
    assert ("output", "::warning::not a warning") in h.lines


def test_stop_commands_state_carries_to_the_next_step(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.feed("::stop-commands::tok-9f")
    nxt = h.new(tmp_path, {}, False)
    nxt.feed("::error::ignored")
    nxt.feed("::tok-9f::")
    nxt.feed("::error::counted")
    assert [a.message for a in h.annotations] == ["counted"]


@pytest.mark.parametrize("token", ["", "pause-logging", "error", "GROUP"])
def test_unsafe_stop_tokens_fail_the_step(tmp_path: Path, token: str) -> None:
    h = Harness(tmp_path)
    h.feed(f"::stop-commands::{token}", "::warning::still processed")
    assert h.proc.failed
    assert "endToken" in h.annotations[1].message
    assert h.annotations[-1].message == "still processed"


def test_set_output_is_deprecated_but_honoured(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.feed("::set-output name=answer::42", "::save-state name=pid::7")
    assert h.proc.outputs == {"answer": "42"}
    assert h.proc.state == {"pid": "7"}
    assert [a.level for a in h.annotations] == ["warning", "warning"]
    assert "deprecated" in h.annotations[0].message
    assert not h.proc.failed


def test_set_output_without_name_fails(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.feed("::set-output::42")
    assert h.proc.failed
    assert any("Required field 'name'" in a.message for a in h.annotations)


def test_set_env_and_add_path_are_disabled_unless_opted_in(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.feed("::set-env name=A::1")
    assert h.proc.failed and h.proc.env_updates == {}
    assert "ACTIONS_ALLOW_UNSECURE_COMMANDS" in h.annotations[-1].message
    ok = Harness(tmp_path, env={"ACTIONS_ALLOW_UNSECURE_COMMANDS": "true"})
    ok.feed("::set-env name=A::1", "::add-path::/opt/x", "::set-env name=node_options::--x")
    assert ok.proc.env_updates == {"A": "1"}
    assert ok.proc.path_additions == ["/opt/x"]
    assert "Can't update NODE_OPTIONS" in ok.annotations[-1].message
    assert not ok.proc.failed


def test_problem_matchers_are_refused_loudly(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.feed("::add-matcher::.github/matcher.json")
    assert h.proc.failed
    assert "not supported yet" in h.annotations[-1].message


def test_echo_on_prints_command_lines(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.feed("::echo::on", "::set-output name=a::b", "::add-mask::zzz", "::echo::off", "::group::g")
    assert ("output", "::set-output name=a::b") in h.lines
    assert ("output", "::add-mask::***") in h.lines
    bad = Harness(tmp_path)
    bad.feed("::echo::loud")
    assert bad.proc.failed
