"""Shell resolution follows GitHub's documented table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cairn.runner.errors import ShellError
from cairn.runner.shells import resolve_shell

PATH = os.environ["PATH"]


def test_unspecified_shell_is_bash_dash_e() -> None:
    shell = resolve_shell(None, path=PATH)
    assert shell.command == "bash"
    assert shell.display.endswith("bash -e {0}")
    assert shell.extension == ".sh"


def test_explicit_bash_adds_pipefail_and_no_profile() -> None:
    shell = resolve_shell("bash", path=PATH)
    assert shell.args == ("--noprofile", "--norc", "-eo", "pipefail", "{0}")
    assert shell.argv("/tmp/s.sh")[1:] == ["--noprofile", "--norc", "-eo", "pipefail", "/tmp/s.sh"]


def test_unspecified_falls_back_to_sh_without_bash(tmp_path: Path) -> None:
    (tmp_path / "sh").symlink_to("/bin/sh")
    shell = resolve_shell(None, path=str(tmp_path))
    assert shell.command == "sh"
    assert shell.args == ("-e", "{0}")


def test_python_and_custom_templates() -> None:
    assert resolve_shell("python", path=PATH).extension == ".py"
    custom = resolve_shell("bash -x {0} --flag", path=PATH)
    assert custom.argv("/s")[1:] == ["-x", "/s", "--flag"]
    assert custom.extension == ".sh"
    perl = resolve_shell("perl {0}", path=PATH)
    assert perl.extension == ""


@pytest.mark.parametrize(
    ("shell", "message"),
    [
        ("cmd", "only available on Windows"),
        ("powershell", "use 'pwsh'"),
        ("zsh", "not a built-in shell"),
        ("bash -x", "no \\{0\\} placeholder"),
        ("no-such-shell-xyz {0}", "'no-such-shell-xyz' was not found in PATH"),
        ('"unbalanced', "cannot be parsed"),
    ],
)
def test_bad_shells_fail_clearly(shell: str, message: str) -> None:
    with pytest.raises(ShellError, match=message):
        resolve_shell(shell, path=PATH)


def test_pwsh_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ShellError, match="'pwsh' was not found"):
        resolve_shell("pwsh", path=str(tmp_path))


def test_pwsh_script_is_wrapped_to_stop_on_errors(tmp_path: Path) -> None:
    fake = tmp_path / "pwsh"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    shell = resolve_shell("pwsh", path=str(tmp_path))
    assert shell.extension == ".ps1"
    assert shell.argv("/t/s.ps1")[1:] == ["-command", ". '/t/s.ps1'"]
    text = shell.script_text("Write-Output hi")
    assert text.startswith("$ErrorActionPreference = 'stop'")
    assert "exit $LASTEXITCODE" in text
