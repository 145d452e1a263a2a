"""A sandbox's callback: the job's full result, POSTed to the webhook receiver.

A Kubernetes termination message holds 4096 bytes. A result that does not fit
is cut down there (``truncated: true``, see :mod:`cairn.runner.termination`),
and its full form travels here: ``POST $CAIRN_CALLBACK_URL`` (the receiver's
``/callbacks/<token>``) with ``Authorization: Bearer <the secret in
$CAIRN_CALLBACK_SECRET_FILE>``. The receiver stores it in the CIWorkflow's
annotation ``callback.cairn.dev/<token>``, where the operator reads it
(protocol: ``docs/webhook.md``).

Choices, and why:

- **Only when the termination message cannot carry the result** (mode
  ``auto``). A callback costs the receiver a list and a patch, and the
  operator a wake and an annotation removal; a result that fits reaches the
  operator with the pod's status at no cost. Sending both would also race:
  whichever the operator saw first would win.
- **No progress reports**, though the protocol has them: each would cost the
  same as a completion, and the operator learns that a job started from its
  pod anyway.
- **Bounded retries**: connection errors, timeouts, 429 and 5xx are retried
  with exponential backoff and jitter (so sandboxes that finished together do
  not hammer a restarting receiver in step) until ``max_attempts`` or the
  overall time budget runs out. Every other answer is final: 403 (wrong
  secret), 410 (the attempt is over), 413 (too large), 409 (another
  completion is recorded), 400 (malformed).
- **Blocking, in a daemon thread, standard library only**: the job is over
  when the callback is sent, so nothing else needs the event loop, and the
  runner (started once per job) stays light: ``http.client`` is imported only
  when a callback is actually sent. The request runs in a daemon thread so
  the caller can stop waiting at the budget's end, or on SIGTERM, whatever
  the receiver does.
- **Never the job's business**: every outcome is returned and logged; none
  raises, and none changes the job's conclusion or the runner's exit code.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import SplitResult, urlsplit

from cairn.engine.jobspec import JobResult
from cairn.k8s.tokens import InvalidTokenError, split_token
from cairn.runner.errors import RunnerError
from cairn.runner.termination import compact_json

if TYPE_CHECKING:
    import http.client

# The names cairn.k8s.sandbox renders into the runner container's env (a test
# keeps them equal; importing sandbox would pull the operator into the runner).
ENV_CALLBACK_URL = "CAIRN_CALLBACK_URL"
ENV_CALLBACK_TOKEN = "CAIRN_CALLBACK_TOKEN"
ENV_CALLBACK_SECRET_FILE = "CAIRN_CALLBACK_SECRET_FILE"
#: the overall time budget in seconds, settable per RunnerClass through its env
ENV_CALLBACK_TIMEOUT = "CAIRN_CALLBACK_TIMEOUT"

DEFAULT_BUDGET_SECONDS = 30.0

#: What the receiver can store: all of a CIWorkflow's annotations together may
#: hold 256 KiB (Kubernetes' limit, ``cairn.webhook.callbacks``), and the
#: annotation's key (``callback.cairn.dev/`` + a token of up to 63
#: characters) counts too. Other annotations on the object are unknown here:
#: the receiver answers 413 when they leave too little room.
MAX_STORED_BYTES = 256 * 1024 - len("callback.cairn.dev/") - 63

_MAX_SECRET_BYTES = 1024
#: enough of the receiver's answer for its JSON message; the rest is not read
_MAX_ANSWER_BYTES = 16 * 1024
_MAX_LOGGED_MESSAGE = 300

CallbackMode = Literal["auto", "always", "never"]
CALLBACK_MODES: tuple[CallbackMode, ...] = ("auto", "always", "never")

CallbackStatus = Literal[
    "recorded",  # 2xx: the receiver stored it
    "duplicate",  # 200 duplicate: the same result was already stored
    "rejected",  # 403: wrong secret, or the token is not Cairn's
    "stale",  # 410: the attempt is over (finished, retried, workflow gone)
    "too_large",  # 413, or too large to send at all
    "conflict",  # 409: a different completion is already recorded
    "refused",  # any other 4xx (or 3xx): a retry would get the same answer
    "gave_up",  # connection errors, timeouts, 429 or 5xx until the budget ran out
    "interrupted",  # SIGTERM/SIGINT while sending (the pod is going away)
]


class CallbackError(RunnerError):
    """Base of the callback's errors."""


class CallbackConfigError(CallbackError):
    """The callback's env, secret file or settings are unusable."""


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Endpoint:
    https: bool
    host: str
    port: int | None
    #: the request target: path and query
    target: str


@dataclass(frozen=True)
class CallbackTarget:
    """Where the result goes and how the sandbox proves it owns the token."""

    url: str
    token: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        try:
            split_token(self.token)
        except InvalidTokenError:
            raise CallbackConfigError(
                f"{ENV_CALLBACK_TOKEN} is not a Cairn callback token: {self.token[:80]!r}"
            ) from None
        self.endpoint()  # validates the URL
        _check_secret(self.secret)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CallbackTarget | None:
        """The target the operator configured in the pod's env; None when it
        configured none. Half a configuration is an error, not "no callback"."""
        names = (ENV_CALLBACK_URL, ENV_CALLBACK_TOKEN, ENV_CALLBACK_SECRET_FILE)
        values = {name: env.get(name, "").strip() for name in names}
        if not any(values.values()):
            return None
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise CallbackConfigError(
                f"the callback needs {', '.join(names)}; {', '.join(missing)} not set"
            )
        secret = read_callback_secret(Path(values[ENV_CALLBACK_SECRET_FILE]))
        return cls(url=values[ENV_CALLBACK_URL], token=values[ENV_CALLBACK_TOKEN], secret=secret)

    def endpoint(self) -> _Endpoint:
        try:
            parts: SplitResult = urlsplit(self.url)
            port = parts.port
        except ValueError as exc:
            raise CallbackConfigError(f"{ENV_CALLBACK_URL} is not a URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CallbackConfigError(
                f"{ENV_CALLBACK_URL} must be an http(s) URL with a host, got {self.url[:200]!r}"
            )
        # the operator renders the full URL; a base URL here means a mismatched
        # operator and runner, better said now than as the receiver's 404
        if not parts.path.endswith(f"/callbacks/{self.token}"):
            raise CallbackConfigError(
                f"{ENV_CALLBACK_URL} must end in /callbacks/${ENV_CALLBACK_TOKEN},"
                f" got {self.url[:200]!r}"
            )
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        return _Endpoint(parts.scheme == "https", parts.hostname, port, target)


def read_callback_secret(path: Path) -> str:
    """The bearer secret from its mounted Secret file (one trailing newline or
    surrounding whitespace ignored)."""
    # is_file follows the Secret volume's symlinks, and refuses a named pipe,
    # which would block the open
    if not path.is_file():
        raise CallbackConfigError(f"the callback secret file {path} does not exist")
    try:
        with path.open("rb") as file:
            raw = file.read(_MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise CallbackConfigError(
            f"the callback secret file {path} cannot be read: {exc.strerror}"
        ) from None
    if len(raw) > _MAX_SECRET_BYTES:
        raise CallbackConfigError(
            f"the callback secret file {path} holds more than {_MAX_SECRET_BYTES} bytes"
        )
    try:
        secret = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise CallbackConfigError(f"the callback secret in {path} is not ASCII") from None
    _check_secret(secret, f" in {path}")
    return secret


def _check_secret(secret: str, where: str = "") -> None:
    if not secret:
        raise CallbackConfigError(f"the callback secret{where} is empty")
    # it goes into a header: no spaces, control characters or non-ASCII
    if not (secret.isascii() and secret.isprintable()) or any(c.isspace() for c in secret):
        raise CallbackConfigError(
            f"the callback secret{where} holds spaces or characters a header cannot carry"
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How long, and how often, a callback is tried."""

    #: the whole callback (every attempt and every wait) ends within this
    budget_seconds: float = DEFAULT_BUDGET_SECONDS
    max_attempts: int = 6
    #: the wait after the first failure; it doubles after each further one
    first_delay_seconds: float = 0.5
    max_delay_seconds: float = 8.0
    #: one request (connect, send, answer); never more than the budget left
    request_timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        for name in (
            "budget_seconds",
            "first_delay_seconds",
            "max_delay_seconds",
            "request_timeout_seconds",
        ):
            value = getattr(self, name)
            if not (value > 0 and value != float("inf")):
                raise CallbackConfigError(
                    f"the callback's {name} must be a positive number, got {value}"
                )
        if self.max_attempts < 1:
            raise CallbackConfigError(
                f"the callback's max_attempts must be at least 1, got {self.max_attempts}"
            )


def budget_from_env(env: Mapping[str, str]) -> float:
    """``$CAIRN_CALLBACK_TIMEOUT`` in seconds, or the default."""
    raw = env.get(ENV_CALLBACK_TIMEOUT, "").strip()
    if not raw:
        return DEFAULT_BUDGET_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise CallbackConfigError(
            f"{ENV_CALLBACK_TIMEOUT} must be a positive number of seconds, got {raw[:40]!r}"
        )
    return value


def retry_delay(
    policy: RetryPolicy, failures: int, jitter: float, retry_after: float | None = None
) -> float:
    """The wait after the ``failures``-th failed attempt.

    Exponential, with "equal jitter": at least half of the backoff, so no
    sandbox retries at once, plus a random part (``jitter`` in [0, 1)) so
    sandboxes that failed together spread out. A receiver's ``Retry-After``
    is honoured as a minimum.
    """
    ceiling = min(policy.max_delay_seconds, policy.first_delay_seconds * 2 ** (failures - 1))
    delay = ceiling / 2 + min(max(jitter, 0.0), 1.0) * ceiling / 2
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


# --- what is sent, and when ------------------------------------------------------------------


def should_send(mode: CallbackMode, termination_message: str | None) -> bool:
    """Whether the result goes by callback, given the termination message
    written (None: none was written)."""
    if mode == "never":
        return False
    if mode == "always" or termination_message is None:
        return True
    try:
        written = json.loads(termination_message)
    except json.JSONDecodeError:
        return True
    return not isinstance(written, dict) or bool(written.get("truncated"))


def _stored_size(result: JobResult) -> int:
    # the receiver stores the canonical form (every field), not the compact body
    return len(result.model_dump_json().encode())


def callback_body(result: JobResult, limit: int = MAX_STORED_BYTES) -> tuple[bytes, bool] | None:
    """``(body, complete)``: the compact JSON of ``result``, or, when the
    receiver could not store it, of ``result`` without its step summaries (the
    one part that can be large on its own; ``complete`` is False then). None
    when even that does not fit."""
    if _stored_size(result) <= limit:
        return compact_json(result).encode(), True
    lean = result.model_copy(
        update={"steps": tuple(s.model_copy(update={"summary": None}) for s in result.steps)}
    )
    if _stored_size(lean) <= limit:
        return compact_json(lean).encode(), False
    return None


# --- sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackOutcome:
    status: CallbackStatus
    #: requests made
    attempts: int
    #: the receiver's last answer; None when none answered
    http_status: int | None
    #: what happened, for the log
    message: str

    @property
    def delivered(self) -> bool:
        return self.status in ("recorded", "duplicate")


@dataclass(frozen=True)
class _Answer:
    status: int
    retry_after: str | None
    body: bytes


class _Exchange:
    """One POST in a daemon thread, which the caller may abandon at any moment."""

    def __init__(
        self, endpoint: _Endpoint, headers: dict[str, str], body: bytes, timeout: float
    ) -> None:
        self._endpoint = endpoint
        self._headers = headers
        self._body = body
        self._timeout = timeout
        self._done = threading.Event()
        # reentrant: abandon() may run in a signal handler that interrupted the
        # main thread while it held the lock
        self._lock = threading.RLock()
        self._connection: http.client.HTTPConnection | None = None
        self._abandoned = False
        self.answer: _Answer | None = None
        self.error: str | None = None

    def run(self, wait: float) -> None:
        """Send, and wait at most ``wait`` seconds for the answer."""
        thread = threading.Thread(target=self._send, name="cairn-callback", daemon=True)
        thread.start()
        if not self._done.wait(wait):
            self.abandon()
            self.error = f"no answer within {wait:.1f} s"

    def abandon(self) -> None:
        """Stop waiting; unblock the thread by shutting its socket down. A
        request abandoned before it connected may still reach the receiver
        later; a repeated result is harmless there."""
        with self._lock:
            self._abandoned = True
            connection = self._connection
        sock = connection.sock if connection is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self.answer is None and self.error is None:
            self.error = "abandoned"
        self._done.set()

    def _send(self) -> None:
        import http.client  # only a job that sends a callback pays for it

        endpoint = self._endpoint
        factory = http.client.HTTPSConnection if endpoint.https else http.client.HTTPConnection
        connection: http.client.HTTPConnection | None = None
        answer: _Answer | None = None
        error: str | None = None
        try:
            connection = factory(endpoint.host, endpoint.port, timeout=self._timeout)
            with self._lock:
                if self._abandoned:
                    return
                self._connection = connection
            connection.request("POST", endpoint.target, body=self._body, headers=self._headers)
            response = connection.getresponse()
            data = response.read(_MAX_ANSWER_BYTES)
            answer = _Answer(response.status, response.getheader("Retry-After"), data)
        except Exception as exc:  # whatever breaks (TLS setup included) is this attempt's failure
            error = _describe_error(exc)
        finally:
            if connection is not None:
                connection.close()
            with self._lock:
                if not self._abandoned:
                    self.answer, self.error = answer, error
            self._done.set()


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _answer_message(answer: _Answer) -> str:
    """The receiver's own explanation (its JSON ``message``), shortened."""
    try:
        parsed = json.loads(answer.body)
        text = str(parsed.get("message") or parsed) if isinstance(parsed, dict) else str(parsed)
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = answer.body.decode("utf-8", "replace").strip()
    text = " ".join(text.split())
    if len(text) > _MAX_LOGGED_MESSAGE:
        text = text[: _MAX_LOGGED_MESSAGE - 3] + "..."
    return text or "(no message)"


def _retry_after(answer: _Answer) -> float | None:
    """``Retry-After`` in seconds; an HTTP-date (or garbage) is ignored."""
    if answer.retry_after is None:
        return None
    try:
        seconds = float(answer.retry_after.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _final(answer: _Answer, attempts: int) -> CallbackOutcome | None:
    """The outcome an answer settles; None when it calls for a retry."""
    status = answer.status
    if _retryable(status):
        return None
    message = _answer_message(answer)
    verdict: CallbackStatus
    if 200 <= status < 300:
        try:
            duplicate = json.loads(answer.body).get("status") == "duplicate"
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            duplicate = False
        verdict = "duplicate" if duplicate else "recorded"
    elif status == 403:
        verdict = "rejected"
    elif status == 410:
        verdict = "stale"
    elif status == 413:
        verdict = "too_large"
    elif status == 409:
        verdict = "conflict"
    else:
        verdict = "refused"
    return CallbackOutcome(verdict, attempts, status, message)


def _stderr(message: str) -> None:
    print(f"cairn runner: {message}", file=sys.stderr, flush=True)


#: how each outcome is logged: a head, and why it is not retried (failures)
_VERDICTS: dict[CallbackStatus, tuple[str, str]] = {
    "recorded": ("callback: the result was recorded", ""),
    "duplicate": ("callback: the result was already recorded", ""),
    "rejected": ("callback rejected", "the receiver does not accept this token's secret"),
    "stale": ("callback stale", "the attempt is over, its result is no longer wanted"),
    "too_large": ("callback too large", "the receiver cannot store the result"),
    "conflict": ("callback conflict", "another result is already recorded for this attempt"),
    "refused": ("callback refused", "a retry would get the same answer"),
    "gave_up": ("callback failed: gave up", ""),
    "interrupted": ("callback interrupted", "the runner is being stopped"),
}


class CallbackSender:
    """Sends one job's result to its callback URL, within a retry policy.

    ``monotonic`` and ``jitter`` are injectable (tests, simulations); waits
    happen on a real event so :meth:`interrupt` ends them at once.
    """

    def __init__(
        self,
        target: CallbackTarget,
        policy: RetryPolicy | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        log: Callable[[str], None] = _stderr,
    ) -> None:
        self.target = target
        self.policy = policy or RetryPolicy()
        self._endpoint = target.endpoint()
        self._monotonic = monotonic
        self._jitter = jitter
        self._log = log
        self._stopped = threading.Event()
        self._current: _Exchange | None = None

    def interrupt(self) -> None:
        """Stop: no further attempt, the one in flight abandoned. Safe to
        call from a signal handler or another thread."""
        self._stopped.set()
        current = self._current
        if current is not None:
            current.abandon()

    def send(self, result: JobResult) -> CallbackOutcome:
        """POST ``result``; the outcome is also logged. Never raises for
        anything the receiver or the network does."""
        prepared = callback_body(result)
        if prepared is None:
            return self._report(
                CallbackOutcome(
                    "too_large",
                    0,
                    None,
                    f"not sent: {_stored_size(result)} bytes, over the {MAX_STORED_BYTES} bytes"
                    " a callback annotation can hold even without step summaries",
                )
            )
        body, complete = prepared
        if not complete:
            self._log(
                f"callback: the result is {_stored_size(result)} bytes, over the"
                f" {MAX_STORED_BYTES} bytes the receiver can store; sending it without"
                " step summaries"
            )
        headers = {
            "Authorization": f"Bearer {self.target.secret}",
            "Content-Type": "application/json",
            "User-Agent": "cairn-runner",
            "Connection": "close",
        }
        return self._report(self._deliver(body, headers))

    def _deliver(self, body: bytes, headers: dict[str, str]) -> CallbackOutcome:
        policy = self.policy
        started = self._monotonic()
        deadline = started + policy.budget_seconds
        attempts = 0
        last_status: int | None = None
        last_problem = "no attempt made"
        while not self._stopped.is_set():
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                break
            attempts += 1
            timeout = min(policy.request_timeout_seconds, remaining)
            exchange = _Exchange(self._endpoint, headers, body, timeout)
            self._current = exchange
            exchange.run(timeout)
            self._current = None
            if self._stopped.is_set():
                break
            retry_after = None
            if exchange.answer is not None:
                settled = _final(exchange.answer, attempts)
                if settled is not None:
                    return settled
                last_status = exchange.answer.status
                last_problem = f"{last_status} {_answer_message(exchange.answer)}"
                retry_after = _retry_after(exchange.answer)
            else:
                last_problem = exchange.error or "no answer"
            if attempts >= policy.max_attempts:
                break
            delay = retry_delay(policy, attempts, self._jitter(), retry_after)
            if self._monotonic() + delay >= deadline:
                break  # the next attempt could not start within the budget
            self._log(
                f"callback attempt {attempts} failed ({last_problem}); retrying in {delay:.1f} s"
            )
            if self._stopped.wait(delay):
                break
        elapsed = self._monotonic() - started
        if self._stopped.is_set():
            return CallbackOutcome(
                "interrupted", attempts, last_status, f"after {attempts} attempt(s)"
            )
        return CallbackOutcome(
            "gave_up",
            attempts,
            last_status,
            f"after {attempts} attempt(s) in {elapsed:.1f} s: {last_problem}",
        )

    def _report(self, outcome: CallbackOutcome) -> CallbackOutcome:
        text, why = _VERDICTS[outcome.status]
        if outcome.delivered:
            if outcome.attempts > 1:
                text += f" (attempt {outcome.attempts})"
        else:
            if outcome.http_status is not None:
                text += f" ({outcome.http_status})"
            text += f": {outcome.message}"
            if why:
                text += f"; {why}"
        self._log(text)
        return outcome
