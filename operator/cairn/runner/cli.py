"""``cairn runner``: the entrypoint of a job's sandbox.

Reads a JobSpec, the secrets mounted as files (file name = secret name), runs
the job with its log on stdout, and writes the JobResult: compactly and within
4096 bytes by default, fit for ``/dev/termination-log``. When the result does
not fit there and the pod's env names a callback (``CAIRN_CALLBACK_URL``,
``CAIRN_CALLBACK_TOKEN``, ``CAIRN_CALLBACK_SECRET_FILE``), the full result is
POSTed to the webhook receiver as well (:mod:`cairn.runner.callback`).
SIGTERM (a deleted pod) and SIGINT cancel the job the GitHub way, so
``always()`` steps still run within the pod's grace period. Exit code: 0
success, 1 failure or cancelled, 2 invalid input; the callback's fate never
changes it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from pydantic import ValidationError

from cairn.engine.jobspec import JobResult, JobSpec
from cairn.runner.callback import (
    CALLBACK_MODES,
    ENV_CALLBACK_TIMEOUT,
    CallbackConfigError,
    CallbackMode,
    CallbackOutcome,
    CallbackSender,
    CallbackTarget,
    RetryPolicy,
    budget_from_env,
    should_send,
)
from cairn.runner.checkout import CheckoutSource
from cairn.runner.errors import RunnerSetupError
from cairn.runner.job import run_job
from cairn.runner.logsink import StreamSink
from cairn.runner.settings import RunnerSettings
from cairn.runner.termination import (
    TERMINATION_MESSAGE_LIMIT,
    compact_json,
    encode_termination_message,
)

_SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", required=True, type=Path, help="the JobSpec JSON file")
    parser.add_argument(
        "--result",
        type=Path,
        help="write the JobResult JSON here (e.g. /dev/termination-log)",
    )
    parser.add_argument(
        "--result-limit",
        type=int,
        default=TERMINATION_MESSAGE_LIMIT,
        metavar="BYTES",
        help="cut the result down to fit this many bytes (default: %(default)s, "
        "a termination message's limit; 0: no limit)",
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="GITHUB_WORKSPACE (default: the current directory)",
    )
    parser.add_argument(
        "--secrets-dir", type=Path, help="a directory with one file per secret (a Secret volume)"
    )
    parser.add_argument(
        "--temp-dir", type=Path, help="RUNNER_TEMP (default: a fresh directory, removed after)"
    )
    parser.add_argument(
        "--checkout-url",
        help="where actions/checkout fetches from "
        "(default: <github.server_url>/<github.repository>.git)",
    )
    parser.add_argument(
        "--callback",
        choices=CALLBACK_MODES,
        default="auto",
        help="POST the full result to $CAIRN_CALLBACK_URL: auto (default) only when the "
        "termination message cannot carry it (cut down, or not written), always, or never",
    )
    parser.add_argument(
        "--callback-timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="overall time limit of the callback, retries included "
        f"(default: ${ENV_CALLBACK_TIMEOUT}, else 30)",
    )
    parser.add_argument("--debug", action="store_true", help="step debug logging")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


class SecretsError(RunnerSetupError):
    """The secrets directory cannot be read."""


def read_secrets(directory: Path, names: Iterable[str]) -> dict[str, str]:
    """Secrets from a mounted Secret volume. Kubernetes' own bookkeeping
    entries (``..data``) are skipped; only ``names`` are read when given."""
    if not directory.is_dir():
        raise SecretsError(f"secrets directory {directory} does not exist")
    wanted = set(names)
    secrets: dict[str, str] = {}
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name.startswith(".") or not entry.is_file() or not _SECRET_NAME.match(name):
            continue
        if wanted and name not in wanted:
            continue
        try:
            secrets[name] = entry.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretsError(f"secret {name} cannot be read: {exc}") from None
    return secrets


def _checkout_source(spec: JobSpec, url: str | None) -> CheckoutSource | None:
    github = spec.contexts.get("github") or {}
    sha = github.get("sha")
    if not url:
        server, repository = github.get("server_url"), github.get("repository")
        if server and repository:
            url = f"{str(server).rstrip('/')}/{repository}.git"
    if not url or not sha:
        return None
    return CheckoutSource(url=url, sha=str(sha), ref=github.get("ref"))


def _write_result(result: JobResult, path: Path | None, limit: int) -> str | None:
    """The termination message written; None when there is none (no path, or
    it cannot be written: then only a callback can carry the result)."""
    if path is None:
        return None
    text = encode_termination_message(result, limit) if limit > 0 else compact_json(result)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"cairn runner: cannot write the result to {path}: {exc.strerror}", file=sys.stderr)
        return None
    return text


def _callback_sender(args: argparse.Namespace, env: Mapping[str, str]) -> CallbackSender | None:
    """The callback the pod's env configures. A configuration problem is
    reported and the job runs anyway: the termination message still works."""
    mode: CallbackMode = args.callback
    if mode == "never":
        return None
    try:
        target = CallbackTarget.from_env(env)
        budget = args.callback_timeout
        policy = RetryPolicy(budget_seconds=budget if budget is not None else budget_from_env(env))
    except CallbackConfigError as exc:
        print(f"cairn runner: no callback: {exc}", file=sys.stderr)
        return None
    if target is None and mode == "always":
        print(
            "cairn runner: no callback: --callback always, but CAIRN_CALLBACK_URL is not set",
            file=sys.stderr,
        )
    return CallbackSender(target, policy) if target is not None else None


@contextlib.contextmanager
def _interruptible(sender: CallbackSender) -> Iterator[None]:
    """SIGTERM/SIGINT while the result is reported stop the callback (the pod
    is going away; the termination message is written first) instead of
    killing the runner, so the exit code stays the job's."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread
        return
    previous = {
        sig: signal.signal(sig, lambda _signum, _frame: sender.interrupt())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _report(result: JobResult, args: argparse.Namespace, sender: CallbackSender | None) -> None:
    if sender is None:
        _write_result(result, args.result, args.result_limit)
        return
    with _interruptible(sender):
        written = _write_result(result, args.result, args.result_limit)
        if not should_send(args.callback, written):
            return
        outcome = sender.send(result)
    _explain_fallback(outcome, written)


def _explain_fallback(outcome: CallbackOutcome, written: str | None) -> None:
    if outcome.delivered or outcome.status == "stale":
        return  # a stale attempt's result is wanted nowhere
    if written is None:
        print("cairn runner: the operator gets no result from this runner", file=sys.stderr)
    else:
        print(
            "cairn runner: the operator gets the result from the termination message,"
            " cut down to what fits",
            file=sys.stderr,
        )


async def _run(spec: JobSpec, args: argparse.Namespace, secrets: dict[str, str]) -> JobResult:
    cancel = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, cancel.set)
    try:
        return await run_job(
            spec,
            workspace=args.workspace or Path.cwd(),
            secrets=secrets,
            checkout=_checkout_source(spec, args.checkout_url),
            log=StreamSink(sys.stdout),
            cancel=cancel,
            settings=RunnerSettings(debug=args.debug),
            temp_dir=args.temp_dir,
        )
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def main(args: argparse.Namespace) -> int:
    try:
        spec = JobSpec.model_validate_json(args.spec.read_bytes())
    except OSError as exc:
        print(f"cairn runner: cannot read job spec {args.spec}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"cairn runner: invalid job spec {args.spec}:\n{exc}", file=sys.stderr)
        return 2
    # read before the job, so a misconfigured callback shows at the top of the log
    sender = _callback_sender(args, os.environ)
    try:
        secrets = read_secrets(args.secrets_dir, spec.secret_names) if args.secrets_dir else {}
        result = asyncio.run(_run(spec, args, secrets))
        code = 0 if result.conclusion == "success" else 1
    except RunnerSetupError as exc:
        print(f"cairn runner: {exc}", file=sys.stderr)
        result = JobResult(
            instance_id=spec.instance_id,
            attempt=spec.attempt,
            conclusion="failure",
            reason=str(exc),
        )
        code = 2
    except Exception as exc:  # a bug: still tell the operator how the job ended
        traceback.print_exc()
        result = JobResult(
            instance_id=spec.instance_id,
            attempt=spec.attempt,
            conclusion="failure",
            reason=f"runner error: {type(exc).__name__}: {exc}",
        )
        code = 1
    _report(result, args, sender)
    return code
