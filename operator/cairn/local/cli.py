"""``cairn run``: run a repository's workflows on this machine, durably.

Exit status: 0 the run succeeded (or no workflow runs on the event), 1 it
failed or was cancelled, 2 invalid input (the compiler's ``path:line:col``
lines on stderr), 130 stopped at once by a second Ctrl-C (resumable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cairn.engine.state import WorkflowState
from cairn.errors import CairnError
from cairn.local.executor import Interrupted, LocalExecutor
from cairn.local.prepare import CompileFailure
from cairn.local.report import Labels, PlainReporter
from cairn.local.sandbox import Sandbox
from cairn.local.session import NothingToRun, RunOptions, Session, resume, start
from cairn.local.summary import (
    WorkflowView,
    display_name,
    lookup_results,
    summary_document,
)
from cairn.local.temps import TempPool
from cairn.runner.checkout import CheckoutSource
from cairn.runner.clock import Clock, SystemClock
from cairn.runner.errors import RunnerSetupError
from cairn.runner.guard import OrphanGuard
from cairn.runner.settings import RunnerSettings

if TYPE_CHECKING:
    from cairn.local.live import LiveReporter

EXIT_SUCCESS = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run GitHub Actions workflows on this machine with Cairn's engine: no cluster, "
        "no Docker. Every transition is checkpointed; after a crash, --resume continues."
    )
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        metavar="PATH",
        help="a workflow file or a directory of them "
        "(default: .github/workflows of the current git repository)",
    )
    parser.add_argument("--event", default="push", metavar="NAME", help="default: push")
    parser.add_argument(
        "--payload", type=Path, metavar="FILE", help="the event's webhook payload (JSON)"
    )
    parser.add_argument("--job", metavar="KEY", help="run only this job and the jobs it needs")
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="K=V",
        help="a secret (repeatable); a bare K reads $K",
    )
    parser.add_argument(
        "--var", action="append", default=[], metavar="K=V", help="a variable (vars context)"
    )
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="K=V",
        help="an input of workflow_dispatch/workflow_call",
    )
    parser.add_argument(
        "--max-parallel",
        type=int,
        metavar="N",
        help="jobs running at once (default: the number of CPUs)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where runs are kept (default: .cairn/ in the repository)",
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue a run after a crash or Ctrl-C ('latest': the newest run)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a summary document on stdout at the end (progress goes to stderr)",
    )


def options_from(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        path=args.path,
        event=args.event,
        payload=args.payload,
        job=args.job,
        secrets=tuple(args.secret),
        vars=tuple(args.var),
        inputs=tuple(args.input),
        max_parallel=args.max_parallel,
        state_dir=args.state_dir,
        resume=args.resume,
        json=args.json,
    )


def main(args: argparse.Namespace) -> int:
    try:
        return run(options_from(args)).exit_code
    except KeyboardInterrupt:
        # Ctrl-C outside the run's loop (which handles it the GitHub way):
        # while starting up, or while printing the summary
        print("cairn run: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


@dataclass(frozen=True)
class RunReport:
    exit_code: int
    #: the ``--json`` document (None when the input was invalid)
    summary: dict[str, Any] | None


def run(
    options: RunOptions,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    clock: Clock | None = None,
    settings: RunnerSettings | None = None,
    live: bool | None = None,
    base_env: dict[str, str] | None = None,
) -> RunReport:
    """``cairn run`` in-process. ``live`` None: the live view when the human
    stream is a terminal."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    human = err if options.json else out
    clock = clock or SystemClock()
    try:
        begun = resume(options, clock.now()) if options.resume else start(options, clock.now())
    except CompileFailure as exc:
        print(str(exc), file=err)
        return RunReport(EXIT_INVALID, None)
    except CairnError as exc:
        print(f"cairn run: {exc}", file=err)
        return RunReport(EXIT_INVALID, None)
    except OSError as exc:
        # the state directory cannot take the run (read-only, full...)
        print(f"cairn run: {_os_error(exc)}", file=err)
        return RunReport(EXIT_INVALID, None)
    if isinstance(begun, NothingToRun):
        for skipped in begun.skipped:
            print(f"Skipped {skipped.path}: {skipped.reason}", file=human)
        print(f"Nothing to run: no workflow runs on {options.event!r}.", file=human)
        document = summary_document("", [], begun.skipped, lambda *_: None)
        document["run_id"] = None
        if options.json:
            print(json.dumps(document, indent=2), file=out)
        return RunReport(EXIT_SUCCESS, document)
    try:
        return _execute(
            begun,
            options,
            out=out,
            err=err,
            human=human,
            clock=clock,
            settings=settings or RunnerSettings(),
            live=live,
            base_env=base_env,
        )
    finally:
        begun.run_dir.close()


def _reporter(
    session: Session,
    human: TextIO,
    live: bool | None,
    states: Callable[[], Mapping[str, WorkflowState]],
) -> PlainReporter | LiveReporter:
    """``states`` gives the current states (names of dynamic matrix
    instances are only known once the engine expanded them)."""
    runs = {entry.key: entry.run for entry in session.manifest.workflows}

    def names(key: str, instance_id: str) -> str:
        return display_name(runs[key], states()[key], instance_id)

    labels = Labels({key: run.plan.workflow.name for key, run in runs.items()}, names)
    use_live = live if live is not None else _is_terminal(human)
    if use_live:
        # rich is imported only for people watching a terminal
        from cairn.local.live import LiveReporter

        return LiveReporter(human, labels, runs, session.states)
    return PlainReporter(human, labels)


def _is_terminal(stream: TextIO) -> bool:
    isatty: Callable[[], bool] | None = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _announce(session: Session, human: TextIO) -> None:
    manifest = session.manifest
    names = ", ".join(entry.run.plan.workflow.name for entry in manifest.workflows)
    if session.resumed:
        print(f"Resuming run {manifest.run_id} ({names})", file=human)
    else:
        for skipped in manifest.skipped:
            print(f"Skipped {skipped.path}: {skipped.reason}", file=human)
        checkout = manifest.checkout
        at = f" at {checkout.sha[:12]}" if checkout else ""
        print(
            f"Run {manifest.run_id} (#{manifest.run_number}): {names} on {manifest.event_name}{at}",
            file=human,
        )
        repo = session.repo
        if checkout is None:
            why = "no git repository" if repo is None or repo.root is None else "no commit yet"
            print(
                f"cairn: {why} here: actions/checkout steps will fail "
                "(they check out the run's commit)",
                file=human,
            )
        if repo is not None and repo.changed_files and checkout is not None:
            print(
                f"cairn: {repo.changed_files} uncommitted change(s) are not part of the run: "
                f"actions/checkout checks out {checkout.sha[:12]} (HEAD)",
                file=human,
            )
    print(f"State and logs: {session.run_dir.path}", file=human)
    human.flush()


def _execute(
    session: Session,
    options: RunOptions,
    *,
    out: TextIO,
    err: TextIO,
    human: TextIO,
    clock: Clock,
    settings: RunnerSettings,
    live: bool | None,
    base_env: dict[str, str] | None,
) -> RunReport:
    manifest = session.manifest
    _announce(session, human)
    executor: LocalExecutor | None = None
    reporter = _reporter(
        session, human, live, lambda: executor.states if executor else session.states
    )
    checkout = None
    if manifest.checkout is not None:
        record = manifest.checkout
        checkout = CheckoutSource(url=record.url, sha=record.sha, ref=record.ref)
    repo_name = manifest.repository.split("/")[-1]
    guard = _start_guard(settings, human)
    temps = TempPool(guard)
    sandbox = Sandbox(
        run_dir=session.run_dir,
        repo_name=repo_name,
        checkout=checkout,
        secrets=session.secrets,
        settings=settings,
        clock=clock,
        base_env=base_env,
        guard=guard,
        temps=temps,
    )
    executor = LocalExecutor(
        run_dir=session.run_dir,
        runs={entry.key: entry.run for entry in manifest.workflows},
        states=session.states,
        sandbox=sandbox,
        reporter=reporter,
        clock=clock,
        max_parallel=session.max_parallel,
    )
    interrupted = False
    reporter.start()
    try:
        asyncio.run(_drive(executor, session))
    except Interrupted:
        interrupted = True
    except CairnError as exc:
        # the run's own files contradict each other (a checkpoint of another
        # plan): nothing sensible can go on
        reporter.stop()
        print(f"cairn run: run {manifest.run_id}: {exc}", file=err)
        return RunReport(EXIT_INVALID, None)
    except OSError as exc:
        # the checkpoint could not be written: the steps were stopped (as by a
        # second Ctrl-C) and the last checkpoint on disk is where a resume starts
        reporter.stop()
        print(
            f"cairn run: run {manifest.run_id} stopped: {_os_error(exc)}. "
            f"Resume it with: cairn run --resume {manifest.run_id}",
            file=err,
        )
        return RunReport(EXIT_FAILED, None)
    finally:
        reporter.stop()
        temps.close()
        if guard is not None:
            guard.close()
    views = [
        WorkflowView(entry.key, entry.path, entry.run, executor.states[entry.key])
        for entry in manifest.workflows
    ]
    lookup = lookup_results(executor.results, session.run_dir.read_result)
    document = summary_document(manifest.run_id, views, manifest.skipped, lookup)
    if options.json:
        out.write(json.dumps(document, indent=2) + "\n")
        out.flush()
    _conclude(document, session, human, interrupted)
    if interrupted:
        return RunReport(EXIT_INTERRUPTED, document)
    return RunReport(EXIT_SUCCESS if document["conclusion"] == "success" else EXIT_FAILED, document)


def _os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _start_guard(settings: RunnerSettings, human: TextIO) -> OrphanGuard | None:
    try:
        return OrphanGuard.start(grace=settings.sigterm_grace)
    except RunnerSetupError as exc:
        print(f"cairn: {exc}; if cairn run is killed, running steps will outlive it", file=human)
        return None


async def _drive(executor: LocalExecutor, session: Session) -> None:
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, executor.interrupt)
            handled.append(sig)
        except (RuntimeError, ValueError):
            # not the main thread (an embedding program): no signal handling
            break
    try:
        events = executor.restore_concurrency() + session.events
        await executor.execute(events)
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def _conclude(document: dict[str, Any], session: Session, human: TextIO, interrupted: bool) -> None:
    run_id = document["run_id"]
    jobs = document["jobs"]
    counts: dict[str, int] = {}
    for job in jobs:
        conclusion = job["conclusion"] or "unfinished"
        counts[conclusion] = counts.get(conclusion, 0) + 1
    tally = ", ".join(f"{n} {c}" for c, n in sorted(counts.items()))
    if interrupted:
        print(
            f"Run {run_id} stopped ({tally}). Resume it with: cairn run --resume {run_id}",
            file=human,
        )
        return
    print(f"Run {run_id}: {document['conclusion']} ({tally})", file=human)
    for job in jobs:
        if job["conclusion"] in ("failure", "cancelled") and job["log"]:
            print(f"  {job['name']}: {job['conclusion']}, log: {job['log']}", file=human)
    if document["conclusion"] == "cancelled":
        print(
            f"Re-run its cancelled and failed jobs with: cairn run --resume {run_id}",
            file=human,
        )
    human.flush()
