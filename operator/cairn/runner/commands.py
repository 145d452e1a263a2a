"""Workflow commands: the ``::name key=value::data`` lines a step prints.

Follows actions/runner's command manager: only registered names are commands
(anything else is ordinary output), names and property keys are
case-insensitive, and a line may start with whitespace. The legacy
``##[name key=value;]data`` form is understood as well. A command that cannot
be honoured reports an error annotation and fails the step, as GitHub does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cairn.engine.jobspec import Annotation, AnnotationLevel
from cairn.runner.errors import WorkflowCommandError
from cairn.runner.masking import SecretMasker

STOP_COMMANDS = "stop-commands"

#: the commands GitHub's runner registers (problem matchers included, so they
#: are refused loudly instead of being printed as plain text)
REGISTERED_COMMANDS = frozenset(
    {
        STOP_COMMANDS,
        "set-env",
        "set-output",
        "save-state",
        "add-mask",
        "add-path",
        "add-matcher",
        "remove-matcher",
        "debug",
        "warning",
        "error",
        "notice",
        "group",
        "endgroup",
        "echo",
    }
)

#: commands whose line is never echoed (``OmitEcho`` in the runner)
_OMIT_ECHO = frozenset({"add-mask", "debug", "warning", "error", "notice"})

_ALLOW_UNSECURE_COMMANDS = "ACTIONS_ALLOW_UNSECURE_COMMANDS"
_ALLOW_UNSECURE_STOP_TOKENS = "ACTIONS_ALLOW_UNSECURE_STOPCOMMAND_TOKENS"
_SET_ENV_BLOCK_LIST = ("NODE_OPTIONS",)

_DATA_ESCAPES = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_PROPERTY_ESCAPES = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))
_LEGACY_ESCAPES = (("%3B", ";"), ("%0D", "\r"), ("%0A", "\n"), ("%5D", "]"), ("%25", "%"))

DEPRECATED_OUTPUT_COMMAND = (
    "The `{}` command is deprecated and will be disabled soon. Please upgrade to using "
    "Environment Files. For more information see: https://github.blog/changelog/"
    "2022-10-11-github-actions-deprecating-save-state-and-set-output-commands/"
)
DISABLED_COMMAND = (
    "The `{}` command is disabled. Please upgrade to using Environment Files or opt into "
    "unsecure command execution by setting the `ACTIONS_ALLOW_UNSECURE_COMMANDS` "
    "environment variable to `true`."
)
INVALID_STOP_TOKEN = (
    "You cannot use a endToken that is an empty string, the string 'pause-logging', or "
    "another workflow command. Opt into insecure command execution by setting the "
    "`ACTIONS_ALLOW_UNSECURE_STOPCOMMAND_TOKENS` environment variable to `true`."
)


def _unescape(text: str, table: tuple[tuple[str, str], ...]) -> str:
    for escaped, plain in table:
        text = text.replace(escaped, plain)
    return text


@dataclass(frozen=True)
class Command:
    name: str  # lower-case
    properties: Mapping[str, str]  # keys lower-case
    data: str


def parse_command(line: str, registered: frozenset[str] = REGISTERED_COMMANDS) -> Command | None:
    """The command on ``line``, or None when it is ordinary output.
    ``registered`` holds lower-case names."""
    stripped = line.lstrip()
    if stripped.startswith("::"):
        end = stripped.find("::", 2)
        if end < 0:
            return None
        info = stripped[2:end]
        name, _, props_text = info.partition(" ")
        if name.lower() not in registered:
            return None
        props: dict[str, str] = {}
        for prop in props_text.strip().split(","):
            key, sep, value = prop.partition("=")
            if sep and key and value:
                props[key.lower()] = _unescape(value, _PROPERTY_ESCAPES)
        return Command(name.lower(), props, _unescape(stripped[end + 2 :], _DATA_ESCAPES))
    start = line.find("##[")
    if start < 0:
        return None
    close = line.find("]", start)
    if close < 0:
        return None
    info = line[start + 3 : close]
    name, _, props_text = info.partition(" ")
    if name.lower() not in registered:
        return None
    props = {}
    for prop in props_text.split(";"):
        key, sep, value = prop.partition("=")
        if sep and key and value:
            props[key.lower()] = _unescape(value, _LEGACY_ESCAPES)
    return Command(name.lower(), props, _unescape(line[close + 1 :], _LEGACY_ESCAPES))


@dataclass
class StopState:
    """``::stop-commands::`` pauses command processing for the rest of the job
    until the token comes back (the runner keeps one command manager per job)."""

    token: str | None = None


def _truthy_flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1", "$true")


@dataclass
class StepCommandProcessor:
    """Turns one step's output lines into log records and effects."""

    step_name: str
    masker: SecretMasker
    stop: StopState
    #: ``emit(kind, text)``: log a (not yet masked) line
    emit: Callable[[str, str], None]
    #: ``report(annotation)``: an annotation (message not yet masked)
    report: Callable[[Annotation], None]
    #: the step's environment: it opts into the unsecure commands
    env: Mapping[str, str]
    workspace: Path
    debug: bool = False
    echo: bool = False
    outputs: dict[str, str] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)
    env_updates: dict[str, str] = field(default_factory=dict)
    path_additions: list[str] = field(default_factory=list)
    failed: bool = False

    def __post_init__(self) -> None:
        self.echo = self.debug

    def feed(self, line: str) -> None:
        registered = REGISTERED_COMMANDS
        if self.stop.token is not None:
            registered = registered | {self.stop.token.lower()}
        command = parse_command(line, registered)
        if command is None:
            self.emit("output", line)
            return
        if self.stop.token is not None:
            if command.name == self.stop.token.lower():
                self.stop.token = None
            # while stopped every command-shaped line is plain output
            self.emit("output", line)
            return
        if command.name == STOP_COMMANDS:
            self._stop_commands(line, command)
            return
        if self.echo and command.name not in _OMIT_ECHO:
            self.emit("output", line)
        try:
            self._process(command)
        except WorkflowCommandError as exc:
            shown = command.name if command.name in _OMIT_ECHO else line
            self.fail(f"Unable to process command '{shown}' successfully.")
            self.fail(str(exc))

    def fail(self, message: str) -> None:
        """An error annotation that fails the step."""
        self.failed = True
        self.report(Annotation(level="error", message=message, step=self.step_name))

    def _unsecure_allowed(self, name: str) -> bool:
        return _truthy_flag(os.environ.get(name)) or _truthy_flag(self.env.get(name))

    def _stop_commands(self, line: str, command: Command) -> None:
        token = command.data
        invalid = (
            not token or token.lower() == "pause-logging" or token.lower() in REGISTERED_COMMANDS
        )
        if invalid and not self._unsecure_allowed(_ALLOW_UNSECURE_STOP_TOKENS):
            self.fail(f"Unable to process command '{line}' successfully.")
            self.fail(INVALID_STOP_TOKEN)
            return
        self.emit("output", line)
        self.stop.token = token

    def _process(self, command: Command) -> None:
        name, data, props = command.name, command.data, command.properties
        if name in ("error", "warning", "notice"):
            self.report(self._annotation(name, command))  # type: ignore[arg-type]
        elif name == "add-mask":
            if not data.strip():
                self._warn("Can't add secret mask for empty string in ##[add-mask] command.")
            else:
                self.masker.add(data)
                if self.echo:
                    self.emit("output", "::add-mask::***")
        elif name == "debug":
            if self.debug:
                self.emit("debug", data)
        elif name == "group":
            self.emit("group", data)
        elif name == "endgroup":
            self.emit("endgroup", "")
        elif name == "echo":
            value = data.strip().lower()
            if value not in ("on", "off"):
                raise WorkflowCommandError(
                    "Invalid echo command value. Possible values can be: 'on', 'off'. "
                    f"Current value is: '{data}'."
                )
            self.echo = value == "on"
        elif name in ("set-output", "save-state"):
            # deprecated since 2022 but still honoured by GitHub, with a warning
            self._warn(DEPRECATED_OUTPUT_COMMAND.format(name))
            key = props.get("name", "")
            if not key:
                raise WorkflowCommandError(
                    f"Required field 'name' is missing in ##[{name}] command."
                )
            (self.outputs if name == "set-output" else self.state)[key] = data
        elif name == "set-env":
            if not self._unsecure_allowed(_ALLOW_UNSECURE_COMMANDS):
                raise WorkflowCommandError(DISABLED_COMMAND.format(name))
            key = props.get("name", "")
            if not key:
                raise WorkflowCommandError(
                    "Required field 'name' is missing in ##[set-env] command."
                )
            if key.upper() in _SET_ENV_BLOCK_LIST:
                self.report(
                    Annotation(
                        level="error",
                        message=f"Can't update {key.upper()} environment variable using "
                        "::set-env:: command.",
                        step=self.step_name,
                    )
                )
                return
            self.env_updates[key] = data
        elif name == "add-path":
            if not self._unsecure_allowed(_ALLOW_UNSECURE_COMMANDS):
                raise WorkflowCommandError(DISABLED_COMMAND.format(name))
            if not data:
                raise WorkflowCommandError("Value cannot be null. (Parameter 'path')")
            if data in self.path_additions:
                self.path_additions.remove(data)
            self.path_additions.append(data)
        elif name in ("add-matcher", "remove-matcher"):
            raise WorkflowCommandError(
                f"The `{name}` command is not supported yet: Cairn has no problem matchers."
            )
        else:  # pragma: no cover - REGISTERED_COMMANDS and this chain agree
            raise WorkflowCommandError(f"unknown command {name}")

    def _warn(self, message: str) -> None:
        self.report(Annotation(level="warning", message=message, step=self.step_name))

    def _annotation(self, level: AnnotationLevel, command: Command) -> Annotation:
        props = command.properties

        def number(key: str) -> int | None:
            value = props.get(key.lower(), "").strip()
            return int(value) if value.isdigit() else None

        file = props.get("file")
        if file:
            file = _relative_to_workspace(file, self.workspace)
        return Annotation(
            level=level,
            message=command.data,
            step=self.step_name,
            title=props.get("title") or None,
            file=file or None,
            line=number("line"),
            end_line=number("endLine"),
            column=number("col"),
            end_column=number("endColumn"),
        )


def _relative_to_workspace(file: str, workspace: Path) -> str:
    path = Path(file)
    if path.is_absolute():
        try:
            return PurePosixPath(path.relative_to(workspace)).as_posix()
        except ValueError:
            return file
    return file
