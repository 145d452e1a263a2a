"""Running one job: its steps in order, and one :class:`JobResult`.

The order of work per step follows GitHub's runner: evaluate ``if`` against
the job's status, then the step's ``env``, ``continue-on-error`` and
``timeout-minutes``, then run it; the step's files (``GITHUB_OUTPUT``...) are
processed afterwards whatever the outcome. When the job is cancelled or runs
out of time, the running step's ``if`` is evaluated again with the job
cancelled: a step that still qualifies (``always()``) goes on, any other is
ended; later steps run only if their ``if`` holds for a cancelled job. After
``RunnerSettings.cancel_timeout`` everything still running is ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from cairn.engine.jobspec import Annotation, JobResult, JobSpec, StepOutcome, StepResult
from cairn.runner.checkout import Checkout, CheckoutSource
from cairn.runner.clock import Clock, SystemClock
from cairn.runner.commands import StepCommandProcessor, StopState
from cairn.runner.environment import (
    base_environment,
    compose_environment,
    default_runner_name,
    default_variables,
    runner_context,
)
from cairn.runner.errors import (
    CheckoutError,
    FileCommandError,
    RunnerSetupError,
    ShellError,
    StepExpressionError,
    UnsupportedFeatureError,
)
from cairn.runner.expressions import (
    JOB_DEFAULTS_RUN,
    JOB_ENV,
    JOB_OUTPUTS,
    STEP_CONTINUE_ON_ERROR,
    STEP_ENV,
    STEP_NAME,
    STEP_RUN,
    STEP_TIMEOUT_MINUTES,
    STEP_WITH,
    STEP_WORKING_DIRECTORY,
    WORKFLOW_ENV,
    Evaluator,
)
from cairn.runner.filecommands import CommandFiles, parse_key_value_file, parse_path_file
from cairn.runner.guard import OrphanGuard
from cairn.runner.logsink import LogKind, LogRecord, LogSink
from cairn.runner.masking import SecretMasker
from cairn.runner.process import ProcessGroups, ProcessOutcome, run_process
from cairn.runner.settings import RunnerSettings
from cairn.runner.shells import Shell, resolve_shell
from cairn.workflow.model import Step

JobStatus = Literal["success", "failure", "cancelled"]
StopReason = Literal["cancelled", "timed_out"]

_BLOCKED_ENV_FILE_NAMES = ("NODE_OPTIONS",)
#: the runner's own directories in ``RUNNER_TEMP`` (GitHub's names)
_EVENT_DIR = "_github_workflow"
_FILE_COMMANDS_DIR = "_runner_file_commands"


class _StepInterrupted(Exception):
    """A step's process was ended by the runner (cancellation or timeout)."""

    def __init__(self, reason: Literal["stopped", "timed_out"]) -> None:
        super().__init__(reason)
        self.reason = reason


def _is_checkout(uses: str) -> bool:
    return uses.split("@", 1)[0].strip().lower() == "actions/checkout"


def _exit_code(code: int) -> int:
    # a process killed by a signal reports it as a shell would (128 + signal)
    return 128 - code if code < 0 else code


class _StepContext:
    """What one running step needs: its stop event and timeout deadline."""

    def __init__(self, step: Step, index: int, name: str, deadline: float | None) -> None:
        self.step = step
        self.index = index
        self.name = name
        self.stop = asyncio.Event()
        self.deadline = deadline
        self.timeout_minutes: float | None = None
        #: the step's condition, evaluated again when the job is cancelled
        self.recheck: Callable[[], bool] = lambda: False


class JobRun:
    """One attempt of one job. Use :func:`run_job`."""

    def __init__(
        self,
        spec: JobSpec,
        *,
        workspace: Path,
        secrets: Mapping[str, str],
        checkout: CheckoutSource | None,
        log: LogSink,
        cancel: asyncio.Event | None,
        settings: RunnerSettings,
        clock: Clock,
        base_env: Mapping[str, str],
        temp_dir: Path | None,
        guard: OrphanGuard | None = None,
    ) -> None:
        self.spec = spec
        self.job = spec.job
        self.workspace = workspace
        self.secrets = dict(secrets)
        self.checkout_source = checkout
        self.sink = log
        self.cancel = cancel
        self.settings = settings
        self.clock = clock
        self.base_env = base_environment(base_env)
        self._given_temp = temp_dir
        self.masker = SecretMasker()
        self.evaluator = Evaluator(workspace)
        self.guard = guard
        self.groups = ProcessGroups(guard)
        self.stop_state = StopState()
        self.annotations: list[Annotation] = []
        self.results: list[StepResult] = []
        self.status: JobStatus = "success"
        self.stop_reason: StopReason | None = None
        self.hard_stop = asyncio.Event()
        self.current: _StepContext | None = None
        #: the env context: workflow env, job env, then ``GITHUB_ENV`` additions
        self.env: dict[str, str] = {}
        self.prepend_path: list[str] = []
        self.steps_context: dict[str, dict[str, Any]] = {}
        self.action_counts: dict[str, int] = {}
        self.failure_reason: str | None = None
        self.files: CommandFiles | None = None
        self._shells: dict[tuple[str | None, str | None], Shell] = {}

    # -- logging -----------------------------------------------------------

    def emit(
        self,
        kind: LogKind,
        text: str,
        *,
        step: _StepContext | None = None,
        annotation: Annotation | None = None,
    ) -> None:
        self.sink.write(
            LogRecord(
                time=self.clock.now(),
                kind=kind,
                text=self.masker.mask(text),
                step=step.index if step else None,
                step_name=step.name if step else None,
                annotation=annotation,
            )
        )

    def annotate(self, annotation: Annotation, step: _StepContext | None = None) -> None:
        masked = annotation.model_copy(
            update={
                "message": self.masker.mask(annotation.message),
                "title": self.masker.mask(annotation.title) if annotation.title else None,
                "file": self.masker.mask(annotation.file) if annotation.file else None,
            }
        )
        self.annotations.append(masked)
        self.emit(masked.level, masked.message, step=step, annotation=masked)

    def error(self, message: str, step: _StepContext | None = None) -> None:
        self.annotate(
            Annotation(level="error", message=message, step=step.name if step else None), step
        )

    def warning(self, message: str, step: _StepContext | None = None) -> None:
        self.annotate(
            Annotation(level="warning", message=message, step=step.name if step else None), step
        )

    # -- contexts ----------------------------------------------------------

    def _setup(self) -> None:
        if self.workspace.exists() and not self.workspace.is_dir():
            raise RunnerSetupError(f"workspace {self.workspace} exists and is not a directory")
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.workspace = self.workspace.resolve()
        self.evaluator = Evaluator(self.workspace)
        if self._given_temp is None:
            self.temp = Path(tempfile.mkdtemp(prefix="cairn-runner-")).resolve()
            if self.guard is not None:
                self.guard.watch_path(self.temp)
        else:
            self.temp = self._given_temp
            self.temp.mkdir(parents=True, exist_ok=True)
            self.temp = self.temp.resolve()
            self._empty_temp()
        tool_cache = self.settings.tool_cache or Path(tempfile.gettempdir()) / "cairn-tool-cache"
        tool_cache.mkdir(parents=True, exist_ok=True)

        contexts = self.spec.contexts
        variables = contexts.get("vars") or {}
        self.debug = (
            self.settings.debug
            or self.secrets.get("ACTIONS_STEP_DEBUG", "").lower() == "true"
            or str(variables.get("ACTIONS_STEP_DEBUG", "")).lower() == "true"
        )
        self.runner = runner_context(
            name=self.settings.runner_name or default_runner_name(),
            temp=str(self.temp),
            tool_cache=str(tool_cache),
            debug=self.debug,
        )
        for value in self.secrets.values():
            self.masker.add(value)
        github = dict(contexts.get("github") or {})
        if "token" not in github and isinstance(self.secrets.get("GITHUB_TOKEN"), str):
            # github.token is secrets.GITHUB_TOKEN on GitHub; the spec may leave
            # it out so that it is never stored with the spec
            github["token"] = self.secrets["GITHUB_TOKEN"]
        if isinstance(github.get("token"), str):
            self.masker.add(github["token"])
        github["workspace"] = str(self.workspace)
        github.setdefault("job", self.job.id)
        github.setdefault("workflow", self.spec.workflow_name)
        event_dir = self.temp / _EVENT_DIR
        event_dir.mkdir(parents=True, exist_ok=True)
        event_path = event_dir / "event.json"
        event_path.write_text(json.dumps(github.get("event") or {}), encoding="utf-8")
        github["event_path"] = str(event_path)
        self.github = github

    def contexts(self, env: Mapping[str, str]) -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "matrix": {},
            "needs": {},
            "strategy": {},
            "inputs": {},
            "vars": {},
        }
        ctx.update(self.spec.contexts)
        ctx.update(
            github=self.github,
            secrets=self.secrets,
            runner=self.runner,
            job={"status": self.status, "container": {}, "services": {}},
            steps=self.steps_context,
            env=dict(env),
        )
        return ctx

    def _evaluate_job_env(self) -> None:
        """Workflow ``env`` then job ``env``: values are templates."""
        contexts = self.contexts({})
        env: dict[str, str] = {}
        for key, raw in self.spec.workflow_env.items():
            env[key] = self.evaluator.render(
                raw, contexts, place=WORKFLOW_ENV, what=f"workflow env '{key}'"
            )
        for key, raw in self.job.env.items():
            env[key] = self.evaluator.render(raw, contexts, place=JOB_ENV, what=f"job env '{key}'")
        self.env = env

    def _defaults(self) -> tuple[str | None, str | None]:
        """(shell, working-directory) from ``defaults.run``: the job's, then
        the workflow's."""
        contexts = self.contexts(self.env)
        job_defaults = self.job.defaults
        shell = job_defaults.shell
        working_directory = job_defaults.working_directory
        if shell is not None:
            shell = self.evaluator.render(
                shell, contexts, place=JOB_DEFAULTS_RUN, what="defaults.run.shell"
            )
        if working_directory is not None:
            working_directory = self.evaluator.render(
                working_directory,
                contexts,
                place=JOB_DEFAULTS_RUN,
                what="defaults.run.working-directory",
            )
        workflow_defaults = self.spec.workflow_defaults
        return (
            shell if shell is not None else workflow_defaults.shell,
            working_directory
            if working_directory is not None
            else workflow_defaults.working_directory,
        )

    def _unsupported_job_features(self) -> str | None:
        if self.job.uses:
            return (
                f"job '{self.job.id}' calls the reusable workflow {self.job.uses}; "
                "a runner runs steps, not workflow calls"
            )
        if self.job.container is not None:
            return "job containers ('container:') are not supported yet"
        if self.job.services:
            return "service containers ('services:') are not supported yet"
        return None

    # -- the job -----------------------------------------------------------

    async def run(self) -> JobResult:
        started_at = self.clock.now()
        self._setup()
        supervisor = asyncio.create_task(self._supervise())
        try:
            await self._run_steps()
        finally:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
            leftover = await self.groups.cleanup(self.settings)
            if leftover:
                self.emit("info", "Cleaning up orphan processes")
                for pgid in leftover:
                    self.emit("info", f"Terminated orphan process group {pgid}")
            if self._given_temp is None:
                shutil.rmtree(self.temp, ignore_errors=True)
                if self.guard is not None:
                    self.guard.forget_path(self.temp)
            else:
                self._empty_temp()
                if self.files is not None:
                    # what the last step wrote (perhaps a secret) does not
                    # stay behind; the empty files serve the next job
                    self.files.empty()
        outputs = self._job_outputs()
        return JobResult(
            instance_id=self.spec.instance_id,
            attempt=self.spec.attempt,
            conclusion=self._conclusion(),
            outputs=outputs,
            steps=tuple(self.results),
            reason=self._reason(),
            annotations=tuple(self.annotations),
            started_at=started_at,
            completed_at=self.clock.now(),
        )

    async def _run_steps(self) -> None:
        problem = self._unsupported_job_features()
        if problem is not None:
            self.error(problem)
            self.status = "failure"
            self.failure_reason = problem
            return
        try:
            self._evaluate_job_env()
            self.default_shell, self.default_working_directory = self._defaults()
        except StepExpressionError as exc:
            self.error(str(exc))
            self.status = "failure"
            self.failure_reason = str(exc)
            return
        for index, step in enumerate(self.job.steps):
            if self.hard_stop.is_set():
                name = step.display_name
                now = self.clock.now()
                self._record(step, name, "cancelled", "cancelled", {}, now, now, None)
                continue
            await self._run_step(index, step)

    def _conclusion(self) -> Literal["success", "failure", "cancelled"]:
        if self.stop_reason == "cancelled":
            return "cancelled"
        if self.stop_reason == "timed_out" or self.status == "failure":
            return "failure"
        return "success"

    def _reason(self) -> str | None:
        if self.stop_reason is not None:
            return self.stop_reason
        if self.failure_reason is not None:
            return self.failure_reason
        if self.status == "failure":
            return "step_failed"
        return None

    async def _supervise(self) -> None:
        """Waits for cancellation or the job's timeout, then for the
        cancellation budget to run out."""
        timeout = max(self.spec.timeout_minutes, 0.0) * 60.0
        cancelled = asyncio.create_task(self.cancel.wait()) if self.cancel else None
        try:
            waiters = {cancelled} if cancelled else set()
            if waiters:
                done, _ = await asyncio.wait(waiters, timeout=timeout)
            else:
                await asyncio.sleep(timeout)
                done = set()
        finally:
            if cancelled and not cancelled.done():
                cancelled.cancel()
        self._stop_job("cancelled" if cancelled in done else "timed_out")
        await asyncio.sleep(self.settings.cancel_timeout)
        self.hard_stop.set()
        if self.current is not None:
            self.current.stop.set()
        self.emit("info", "The cancellation timeout passed: ending the job")

    def _stop_job(self, reason: StopReason) -> None:
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        self.status = "cancelled"
        if reason == "timed_out":
            self.error(
                f"The job running on runner {self.runner['name']} has exceeded the maximum "
                f"execution time of {self.spec.timeout_minutes:g} minutes."
            )
        else:
            self.emit("info", "The job was cancelled.")
        current = self.current
        if current is not None and not current.recheck():
            current.stop.set()

    # -- one step ----------------------------------------------------------

    def _action_id(self, step: Step) -> str:
        if step.id:
            return step.id
        if step.run is not None:
            base = "__run"
        else:
            owner_repo = (step.uses or "").split("@", 1)[0]
            base = "__" + "_".join(part for part in owner_repo.split("/")[:2] if part)
        count = self.action_counts.get(base, 0) + 1
        self.action_counts[base] = count
        return base if count == 1 else f"{base}_{count}"

    def _display_name(self, step: Step, step_ctx: _StepContext | None) -> str:
        if not step.name:
            return step.display_name
        try:
            return self.evaluator.render(
                step.name, self.contexts(self.env), place=STEP_NAME, what="step name"
            )
        except StepExpressionError as exc:
            self.warning(f"The step's name could not be evaluated: {exc}", step_ctx)
            return step.name

    def _shell(self, name: str | None, path: str | None) -> Shell:
        """The step's shell. Looking it up in ``PATH`` costs a dozen ``stat``
        calls, so a found shell is remembered for the job's later steps with
        the same ``PATH``; a missing one is looked up again (a step may
        install it)."""
        key = (name, path)
        shell = self._shells.get(key)
        if shell is None:
            shell = self._shells[key] = resolve_shell(name, path=path)
        return shell

    def _command_files(self) -> CommandFiles:
        """Empty ``GITHUB_OUTPUT``... files for the step about to run: created
        for the job's first step, emptied for the others."""
        if self.files is None:
            self.files = CommandFiles.open(self.temp / _FILE_COMMANDS_DIR)
        else:
            self.files.empty()
        return self.files

    def _empty_temp(self) -> None:
        """Empty a ``RUNNER_TEMP`` the caller gave, at the start and the end
        of the job (GitHub empties it at both), but for the runner's own
        files, which a directory reused for the next job keeps."""
        with os.scandir(self.temp) as entries:
            for entry in entries:
                if entry.name in (_EVENT_DIR, _FILE_COMMANDS_DIR):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)

    def _record(
        self,
        step: Step,
        name: str,
        outcome: StepOutcome,
        conclusion: StepOutcome,
        outputs: dict[str, str],
        started_at: datetime,
        completed_at: datetime,
        summary: str | None,
    ) -> None:
        self.results.append(
            StepResult(
                name=name,
                id=step.id,
                outcome=outcome,
                conclusion=conclusion,
                # the result leaves the sandbox (a checkpoint, a CR status):
                # a secret in a step output is masked there, while later
                # steps of this job still read the real value
                outputs={key: self.masker.mask(value) for key, value in outputs.items()},
                started_at=started_at,
                completed_at=completed_at,
                summary=summary,
            )
        )
        if step.id:
            self.steps_context[step.id] = {
                "outputs": dict(outputs),
                "outcome": outcome,
                "conclusion": conclusion,
            }
        if conclusion == "failure" and self.status == "success":
            self.status = "failure"

    async def _run_step(self, index: int, step: Step) -> None:
        if self.cancel is not None and self.cancel.is_set():
            # the supervisor may not have seen it yet
            self._stop_job("cancelled")
        started_at = self.clock.now()
        action_id = self._action_id(step)
        ctx = _StepContext(step, index, step.display_name, None)
        # a name may be rendered from secrets; it is logged and reported
        ctx.name = self.masker.mask(self._display_name(step, ctx))
        condition = step.if_ if step.if_ is not None and step.if_.strip() else "success()"

        def holds(status: JobStatus) -> bool:
            return self.evaluator.condition(
                condition,
                self.contexts(self.env),
                status=status,
                what=f"the 'if' of step '{ctx.name}'",
            )

        try:
            run_it = holds(self.status)
        except StepExpressionError as exc:
            self.error(str(exc), ctx)
            self._finish(ctx, step, "failure", "failure", {}, started_at, None)
            return
        if not run_it:
            self._finish(ctx, step, "skipped", "skipped", {}, started_at, None)
            return

        def recheck() -> bool:
            try:
                return holds("cancelled")
            except StepExpressionError:
                return False

        ctx.recheck = recheck
        self.current = ctx
        self.github = {**self.github, "action": action_id}
        if step.uses:
            self.github["action_repository"] = step.uses.split("@", 1)[0]
            self.github["action_ref"] = step.uses.split("@", 1)[1] if "@" in step.uses else ""
        else:
            self.github.pop("action_repository", None)
            self.github.pop("action_ref", None)
        files = self._command_files()
        self.github.update(
            output=str(files.paths["GITHUB_OUTPUT"]),
            env=str(files.paths["GITHUB_ENV"]),
            path=str(files.paths["GITHUB_PATH"]),
            state=str(files.paths["GITHUB_STATE"]),
            step_summary=str(files.paths["GITHUB_STEP_SUMMARY"]),
        )
        processor: StepCommandProcessor | None = None
        continue_on_error = False
        outcome: Literal["success", "failure", "cancelled"] = "success"
        try:
            contexts = self.contexts(self.env)
            step_env = {
                key: self.evaluator.render(
                    raw, contexts, place=STEP_ENV, what=f"env '{key}' of step '{ctx.name}'"
                )
                for key, raw in step.env.items()
            }
            env_context = {**self.env, **step_env}
            contexts = self.contexts(env_context)
            processor = StepCommandProcessor(
                step_name=ctx.name,
                masker=self.masker,
                stop=self.stop_state,
                emit=lambda kind, text: self.emit(kind, text, step=ctx),  # type: ignore[arg-type]
                report=lambda a: self.annotate(a, ctx),
                env=env_context,
                workspace=self.workspace,
                debug=self.debug,
            )
            continue_on_error = self.evaluator.flag(
                step.continue_on_error,
                contexts,
                place=STEP_CONTINUE_ON_ERROR,
                what=f"continue-on-error of step '{ctx.name}'",
            )
            if step.timeout_minutes is not None:
                minutes = self.evaluator.minutes(
                    step.timeout_minutes,
                    contexts,
                    place=STEP_TIMEOUT_MINUTES,
                    what=f"timeout-minutes of step '{ctx.name}'",
                )
                ctx.timeout_minutes = minutes
                ctx.deadline = asyncio.get_running_loop().time() + minutes * 60.0
            process_env = compose_environment(
                self.base_env,
                env_context,
                default_variables(self.github, self.runner),
                self.prepend_path,
            )
            if step.run is not None:
                await self._run_script(ctx, step, contexts, process_env, processor)
            elif step.uses and _is_checkout(step.uses):
                await self._checkout(ctx, step, contexts, process_env)
            else:
                raise UnsupportedFeatureError(
                    f"action {step.uses} is not supported yet"
                    if step.uses
                    else "the step has neither 'run' nor 'uses'"
                )
        except _StepInterrupted as exc:
            if exc.reason == "timed_out":
                self.error(
                    f"The action '{ctx.name}' has timed out after {ctx.timeout_minutes:g} minutes.",
                    ctx,
                )
                outcome = "failure"
            else:
                self.error("The operation was canceled.", ctx)
                outcome = "cancelled"
        except (
            StepExpressionError,
            ShellError,
            UnsupportedFeatureError,
            CheckoutError,
            _ProcessFailed,
        ) as exc:
            self.error(str(exc), ctx)
            outcome = "failure"
        finally:
            if self.current is ctx:
                self.current = None
        outputs, summary, files_failed = self._apply_files(ctx, files, processor)
        command_failed = processor is not None and processor.failed
        if (command_failed or files_failed) and outcome == "success":
            outcome = "failure"
        conclusion: Literal["success", "failure", "cancelled"] = outcome
        if outcome == "failure" and continue_on_error:
            conclusion = "success"
        self._finish(ctx, step, outcome, conclusion, outputs, started_at, summary)

    def _finish(
        self,
        ctx: _StepContext,
        step: Step,
        outcome: StepOutcome,
        conclusion: StepOutcome,
        outputs: dict[str, str],
        started_at: datetime,
        summary: str | None,
    ) -> None:
        self._record(
            step, ctx.name, outcome, conclusion, outputs, started_at, self.clock.now(), summary
        )
        text = conclusion if outcome == conclusion else f"{conclusion} (outcome: {outcome})"
        self.emit("step", text, step=ctx)

    def _remaining(self, ctx: _StepContext) -> float | None:
        if ctx.deadline is None:
            return None
        return max(ctx.deadline - asyncio.get_running_loop().time(), 0.0)

    async def _process(
        self,
        ctx: _StepContext,
        argv: list[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        on_line: Callable[[str], None],
    ) -> ProcessOutcome:
        try:
            outcome = await run_process(
                argv,
                cwd=cwd,
                env=env,
                on_line=on_line,
                stop=ctx.stop,
                timeout=self._remaining(ctx),
                settings=self.settings,
                groups=self.groups,
                detached_line=lambda line: self.emit("output", line, step=ctx),
            )
        except OSError as exc:
            raise _ProcessFailed(
                f"An error occurred trying to start process '{argv[0]}' with working "
                f"directory '{cwd}'. {exc.strerror or exc}"
            ) from None
        if outcome.interrupted is not None:
            raise _StepInterrupted(outcome.interrupted)
        return outcome

    def _working_directory(self, ctx: _StepContext, step: Step, contexts: dict[str, Any]) -> Path:
        raw = (
            step.working_directory
            if step.working_directory is not None
            else self.default_working_directory
        )
        if raw is None:
            return self.workspace
        rendered = self.evaluator.render(
            raw,
            contexts,
            place=STEP_WORKING_DIRECTORY,
            what=f"working-directory of step '{ctx.name}'",
        )
        return self.workspace / rendered if rendered else self.workspace

    async def _run_script(
        self,
        ctx: _StepContext,
        step: Step,
        contexts: dict[str, Any],
        process_env: dict[str, str],
        processor: StepCommandProcessor,
    ) -> None:
        assert step.run is not None
        script = self.evaluator.render(
            step.run, contexts, place=STEP_RUN, what=f"the script of step '{ctx.name}'"
        )
        working_directory = self._working_directory(ctx, step, contexts)
        shell = self._shell(
            step.shell if step.shell is not None else self.default_shell, process_env.get("PATH")
        )
        script_path = self.temp / f"{os.urandom(16).hex()}{shell.extension}"
        script_path.write_text(shell.script_text(script), encoding="utf-8")
        first_line = script.strip().splitlines()[0] if script.strip() else ""
        self.emit("group", f"Run {first_line}", step=ctx)
        for line in script.rstrip("\n").split("\n"):
            self.emit("info", line, step=ctx)
        self.emit("info", f"shell: {shell.display}", step=ctx)
        env_context = contexts["env"]
        if env_context:
            self.emit("info", "env:", step=ctx)
            for key, value in env_context.items():
                self.emit("info", f"  {key}: {value}", step=ctx)
        self.emit("endgroup", "", step=ctx)
        try:
            if not working_directory.is_dir():
                raise _ProcessFailed(
                    f"An error occurred trying to start process '{shell.executable}' with "
                    f"working directory '{working_directory}'. No such file or directory"
                )
            result = await self._process(
                ctx,
                shell.argv(str(script_path)),
                cwd=working_directory,
                env=process_env,
                on_line=processor.feed,
            )
        finally:
            script_path.unlink(missing_ok=True)
        if result.exit_code != 0:
            raise _ProcessFailed(
                f"Process completed with exit code {_exit_code(result.exit_code)}."
            )

    async def _checkout(
        self,
        ctx: _StepContext,
        step: Step,
        contexts: dict[str, Any],
        process_env: dict[str, str],
    ) -> None:
        inputs = {
            key: self.evaluator.render(
                raw, contexts, place=STEP_WITH, what=f"input '{key}' of step '{ctx.name}'"
            )
            for key, raw in step.with_.items()
        }
        if self.checkout_source is None:
            raise CheckoutError(
                "actions/checkout needs the run's repository, and the runner was given none"
            )
        git_env = {**process_env, "GIT_TERMINAL_PROMPT": "0"}

        async def git(args: list[str], cwd: Path) -> tuple[int, list[str]]:
            lines: list[str] = []

            def on_line(line: str) -> None:
                lines.append(line)
                self.emit("output", line, step=ctx)

            self.emit("info", f"[command]git {' '.join(args)}", step=ctx)
            try:
                result = await self._process(
                    ctx, ["git", *args], cwd=cwd, env=git_env, on_line=on_line
                )
            except _ProcessFailed as exc:
                raise CheckoutError(f"git could not be run: {exc}") from None
            return result.exit_code, lines

        self.emit("group", f"Run {step.uses}", step=ctx)
        for key, value in inputs.items():
            self.emit("info", f"  {key}: {value}", step=ctx)
        self.emit("endgroup", "", step=ctx)
        await Checkout(
            self.checkout_source,
            inputs,
            workspace=self.workspace,
            repository=self.github.get("repository"),
            git=git,
            info=lambda text: self.emit("info", text, step=ctx),
            warn=lambda text: self.warning(text, ctx),
        ).run()

    def _apply_files(
        self, ctx: _StepContext, files: CommandFiles, processor: StepCommandProcessor | None
    ) -> tuple[dict[str, str], str | None, bool]:
        """Process the step's files (and the effects of its commands);
        returns its outputs, its summary, and whether processing failed."""
        outputs: dict[str, str] = dict(processor.outputs) if processor else {}
        failed = False
        if processor is not None:
            self.env.update(processor.env_updates)
            for entry in processor.path_additions:
                self._add_path(entry)
        for var, context_name in (
            ("GITHUB_PATH", "path"),
            ("GITHUB_ENV", "env"),
            ("GITHUB_STATE", "state"),
            ("GITHUB_OUTPUT", "output"),
        ):
            try:
                text = files.read(var)
                if var == "GITHUB_PATH":
                    for entry in parse_path_file(text):
                        self._add_path(entry)
                    continue
                pairs = parse_key_value_file(text)
            except FileCommandError as exc:
                self.error(f"Unable to process file command '{context_name}' successfully.", ctx)
                self.error(str(exc), ctx)
                failed = True
                continue
            if var == "GITHUB_ENV":
                for key, value in pairs:
                    if key.upper() in _BLOCKED_ENV_FILE_NAMES:
                        self.error(
                            f"Can't store {key.upper()} output parameter using '$GITHUB_ENV' "
                            "command.",
                            ctx,
                        )
                        continue
                    self.env[key] = value
            elif var == "GITHUB_OUTPUT":
                outputs.update(pairs)
            # GITHUB_STATE is parsed so a malformed file fails as on GitHub, but
            # state only feeds an action's post step, which run steps do not have
        summary = self._summary(ctx, files)
        return outputs, summary, failed

    def _add_path(self, entry: str) -> None:
        if entry in self.prepend_path:
            self.prepend_path.remove(entry)
        self.prepend_path.append(entry)

    def _summary(self, ctx: _StepContext, files: CommandFiles) -> str | None:
        size = files.size("GITHUB_STEP_SUMMARY")
        if size == 0:
            return None
        limit = self.settings.max_summary_bytes
        if size > limit:
            self.error(
                f"$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of "
                f"{limit // 1024}k, got {size // 1024}k.",
                ctx,
            )
            return None
        text = files.read("GITHUB_STEP_SUMMARY")
        return "\n".join(self.masker.mask(line) for line in text.split("\n"))

    # -- job outputs -------------------------------------------------------

    def _job_outputs(self) -> dict[str, str]:
        if not self.job.outputs:
            return {}
        contexts = self.contexts(self.env)
        outputs: dict[str, str] = {}
        for key, raw in self.job.outputs.items():
            try:
                value = self.evaluator.render(
                    raw, contexts, place=JOB_OUTPUTS, what=f"job output '{key}'"
                )
            except StepExpressionError as exc:
                self.error(str(exc))
                if self.status == "success":
                    self.status = "failure"
                    self.failure_reason = str(exc)
                continue
            if self.masker.contains_secret(value):
                self.warning(f"Skip output '{key}' since it may contain secret.")
                continue
            outputs[key] = value
        return outputs


class _ProcessFailed(Exception):
    """A step's process could not start or exited non-zero."""


async def run_job(
    spec: JobSpec,
    *,
    workspace: Path,
    secrets: Mapping[str, str],
    checkout: CheckoutSource | None,
    log: LogSink,
    cancel: asyncio.Event | None = None,
    settings: RunnerSettings | None = None,
    clock: Clock | None = None,
    base_env: Mapping[str, str] | None = None,
    temp_dir: Path | None = None,
    guard: OrphanGuard | None = None,
) -> JobResult:
    """Run ``spec``'s steps in ``workspace`` and report the result.

    ``secrets`` is the ``secrets`` context (every value is masked in the log);
    ``checkout`` is where ``actions/checkout`` fetches from; ``log`` receives
    every (masked) log line; setting ``cancel`` cancels the job the GitHub way.
    ``base_env`` is the environment steps inherit (the runner's own by
    default); ``temp_dir`` is ``RUNNER_TEMP`` (a fresh directory, removed at
    the end, by default). With a ``guard``, the job's processes and its
    temporary directory are removed even if this process is killed. Problems
    of the job end up in the result; only an unusable ``workspace`` raises
    (:class:`RunnerSetupError`).
    """
    run = JobRun(
        spec,
        workspace=workspace,
        secrets=secrets,
        checkout=checkout,
        log=log,
        cancel=cancel,
        settings=settings or RunnerSettings(),
        clock=clock or SystemClock(),
        base_env=os.environ if base_env is None else base_env,
        temp_dir=temp_dir,
        guard=guard,
    )
    return await run.run()
