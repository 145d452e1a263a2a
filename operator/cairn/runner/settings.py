"""Knobs of the runner that are not part of the job spec."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: GitHub's runner waits this long after SIGINT before sending SIGTERM
#: (``_sigintTimeout`` in actions/runner's ProcessInvoker, and the documented
#: cancellation sequence).
GITHUB_SIGINT_GRACE_SECONDS = 7.5
#: ... and this long after SIGTERM before killing the process tree.
GITHUB_SIGTERM_GRACE_SECONDS = 2.5
#: After a cancellation GitHub lets ``always()``/``cancelled()`` work go on for
#: five minutes before it forcibly terminates the job.
GITHUB_CANCEL_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class RunnerSettings:
    sigint_grace: float = GITHUB_SIGINT_GRACE_SECONDS
    sigterm_grace: float = GITHUB_SIGTERM_GRACE_SECONDS
    #: how long steps may still run after the job was cancelled or timed out
    cancel_timeout: float = GITHUB_CANCEL_TIMEOUT_SECONDS
    #: after a step's main process exits, how long to wait for the rest of its
    #: output before the step ends anyway (a background process may hold the
    #: pipe open; its later output is still logged, attributed to that step)
    output_drain_timeout: float = 1.0
    #: ``RUNNER_NAME``; None: ``cairn-<hostname>``
    runner_name: str | None = None
    #: ``RUNNER_TOOL_CACHE``; None: ``<system temp>/cairn-tool-cache``
    tool_cache: Path | None = None
    #: step debug logging (``ACTIONS_STEP_DEBUG``); also switched on by a
    #: secret or variable of that name set to ``true``, as on GitHub
    debug: bool = False
    #: a line longer than this (bytes) is split, so one endless line cannot
    #: exhaust memory
    max_line_bytes: int = 1024 * 1024
    #: GitHub refuses step summaries above 1 MiB
    max_summary_bytes: int = 1024 * 1024
