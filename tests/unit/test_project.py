"""The project's promises to a new user: README commands and CI agree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block, "README.md must open with a sh code block holding the two commands"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_a_run_command_and_a_test_command() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    assert "cairn run" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = _readme_commands()[1]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_readme_example_workflow_exists() -> None:
    run_command = _readme_commands()[0]
    target = run_command.split("cairn run", 1)[1].split()[0]
    assert (ROOT / target).is_file(), f"README runs {target}, which does not exist"
