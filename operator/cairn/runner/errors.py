"""Errors of the step runner.

Most problems inside a job do not raise: they fail the step (or the job) and
end up in the :class:`~cairn.engine.jobspec.JobResult`. These exceptions cover
what a caller must hear about directly, and carry the message a step failure
shows when the runner turns one into a failed step.
"""

from __future__ import annotations

from cairn.errors import CairnError


class RunnerError(CairnError):
    """Base class of the runner's errors."""


class RunnerSetupError(RunnerError):
    """The runner was given something it cannot work with (a workspace that is
    a file, an unreadable spec or secrets directory)."""


class ShellError(RunnerError):
    """A step's ``shell`` is unknown, malformed, or not installed."""


class FileCommandError(RunnerError):
    """A ``GITHUB_OUTPUT``/``GITHUB_ENV``/``GITHUB_STATE`` file is malformed."""


class WorkflowCommandError(RunnerError):
    """A ``::command::`` line cannot be honoured (disabled or malformed)."""


class CheckoutError(RunnerError):
    """``actions/checkout`` could not produce the requested tree."""


class UnsupportedFeatureError(RunnerError):
    """The step or job uses something Cairn does not run yet."""


class StepExpressionError(RunnerError):
    """An expression of a step (or of the job's env/outputs) failed to evaluate."""
