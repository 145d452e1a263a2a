"""The ``shell`` of a ``run`` step, as GitHub documents it.

=============  ==========================================
unspecified    ``bash -e {0}``, or ``sh -e {0}`` without bash
``bash``       ``bash --noprofile --norc -eo pipefail {0}``
``sh``         ``sh -e {0}``
``python``     ``python {0}``
``pwsh``       ``pwsh -command ". '{0}'"``
custom         ``command [options] {0} [more options]``
=============  ==========================================

``powershell`` and ``cmd`` exist only on Windows runners, so they fail with a
clear error here. The script goes to a file in ``RUNNER_TEMP`` whose extension
follows the shell's command, as the runner does.
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass

from cairn.runner.errors import ShellError

#: arguments of the built-in shells (the first word is the command)
_BUILTIN_ARGS = {
    "bash": ["--noprofile", "--norc", "-eo", "pipefail", "{0}"],
    "sh": ["-e", "{0}"],
    "python": ["{0}"],
    "pwsh": ["-command", ". '{0}'"],
}
_DEFAULT_ARGS = ["-e", "{0}"]
_WINDOWS_ONLY = {"powershell", "cmd"}
_EXTENSIONS = {"bash": ".sh", "sh": ".sh", "python": ".py", "pwsh": ".ps1", "powershell": ".ps1"}

#: pwsh does not stop on errors nor return a failing native command's exit
#: code by itself; GitHub wraps every pwsh script like this
_PWSH_PROLOGUE = "$ErrorActionPreference = 'stop'\n"
_PWSH_EPILOGUE = "\nif ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) { exit $LASTEXITCODE }\n"


@dataclass(frozen=True)
class Shell:
    #: the command as written (``bash``) and its resolved path
    command: str
    executable: str
    #: argument templates; ``{0}`` is the script file
    args: tuple[str, ...]
    extension: str

    def argv(self, script: str) -> list[str]:
        return [self.executable, *(a.replace("{0}", script) for a in self.args)]

    @property
    def display(self) -> str:
        """``/usr/bin/bash -e {0}``, as GitHub prints it in the step header."""
        return " ".join([self.executable, *self.args])

    def script_text(self, script: str) -> str:
        if self.command == "pwsh":
            return _PWSH_PROLOGUE + script + _PWSH_EPILOGUE
        return script


def _which(command: str, path: str | None) -> str | None:
    return shutil.which(command, path=path)


def resolve_shell(shell: str | None, *, path: str | None) -> Shell:
    """The shell to run a step with. ``path`` is the step's ``PATH``."""
    if shell is None or not shell.strip():
        for command in ("bash", "sh"):
            found = _which(command, path)
            if found:
                return Shell(command, found, tuple(_DEFAULT_ARGS), ".sh")
        raise ShellError("neither bash nor sh was found in PATH; a run step needs one of them")
    try:
        words = shlex.split(shell)
    except ValueError as exc:
        raise ShellError(f"shell {shell!r} cannot be parsed: {exc}") from None
    command = words[0]
    if command in _WINDOWS_ONLY and len(words) == 1:
        raise ShellError(
            f"shell '{command}' is only available on Windows runners"
            + (" (use 'pwsh' for PowerShell Core)" if command == "powershell" else "")
        )
    if len(words) == 1:
        if command not in _BUILTIN_ARGS:
            raise ShellError(
                f"shell '{command}' is not a built-in shell (bash, sh, python, pwsh); "
                f"a custom shell is a template with {{0}} for the script, e.g. '{command} {{0}}'"
            )
        args = list(_BUILTIN_ARGS[command])
    else:
        # custom: GitHub takes the first word as the command and the rest as
        # its arguments
        args = words[1:]
        if not any("{0}" in a for a in args):
            raise ShellError(f"custom shell {shell!r} has no {{0}} placeholder for the script file")
    found = _which(command, path)
    if not found:
        raise ShellError(f"shell '{command}' was not found in PATH")
    return Shell(command, found, tuple(args), _EXTENSIONS.get(command, ""))
