"""The sandbox's callback client against real HTTP servers on loopback: a
scripted receiver (to make it answer 5xx, 403, 410, hang...) and the real
webhook receiver app over its in-memory cluster."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.webhook.workflows import running_job, token_for, workflow_object

from cairn.engine.jobspec import Annotation, JobResult, StepResult
from cairn.k8s import sandbox
from cairn.k8s.resources import CALLBACK_ANNOTATION_PREFIX
from cairn.k8s.tokens import callback_secret
from cairn.runner.callback import (
    MAX_STORED_BYTES,
    CallbackConfigError,
    CallbackSender,
    CallbackTarget,
    RetryPolicy,
    budget_from_env,
    callback_body,
    retry_delay,
    should_send,
)
from cairn.runner.termination import encode_termination_message
from cairn.webhook import callbacks as receiver_callbacks
from cairn.webhook.app import Receiver, SecretHolder, create_app
from cairn.webhook.config import ReceiverConfig
from cairn.webhook.memory import InMemoryCluster
from cairn.webhook.secrets import SecretLoader

NAMESPACE = "ci-hello"
WORKFLOW = "gh-72d3162e-ci-yml"
TOKEN = token_for(NAMESPACE, WORKFLOW, "build")
OPERATOR_KEY = b"0123456789abcdef-operator-key-for-runner-tests-0123"
SECRET = callback_secret(OPERATOR_KEY, TOKEN)

# --- loopback servers --------------------------------------------------------------------------


@contextlib.contextmanager
def serving(app: web.Application) -> Iterator[str]:
    """Serve ``app`` on a loopback port from a thread of its own (the code under
    test blocks), yielding its base URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    ready = threading.Event()
    address: list[str] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        host, port = runner.addresses[0][:2]
        address.append(f"http://{host}:{port}")
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="loopback-server", daemon=True)
    thread.start()
    assert ready.wait(10), "the loopback server did not start"
    try:
        yield address[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    #: never answer (until the server stops)
    hang: bool = False


HANG = Answer(503, hang=True)
RECORDED = Answer(202, {"status": "recorded", "message": "completion recorded"})


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedReceiver:
    """Answers callbacks from a script, one answer per request (the last one
    repeats), and records what it was sent."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers) or [RECORDED]
        self.requests: list[Seen] = []
        self._seen = threading.Condition()
        self._release = asyncio.Event()
        self._served: contextlib.ExitStack | None = None
        self.url = ""

    def __enter__(self) -> ScriptedReceiver:
        app = web.Application()
        app.router.add_post("/callbacks/{token}", self._handle)
        app.on_shutdown.append(self._stop_hanging)
        self._served = contextlib.ExitStack()
        self.url = self._served.enter_context(serving(app))
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._served is not None
        self._served.close()

    def callback_url(self, token: str = TOKEN) -> str:
        return f"{self.url}/callbacks/{token}"

    def target(self, token: str = TOKEN) -> CallbackTarget:
        return CallbackTarget(url=self.callback_url(token), token=token, secret=SECRET)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> None:
        with self._seen:
            assert self._seen.wait_for(lambda: len(self.requests) >= count, timeout), (
                f"expected {count} request(s), got {len(self.requests)}"
            )

    async def _stop_hanging(self, app: web.Application) -> None:
        self._release.set()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._seen:
            answer = self.answers[min(len(self.requests), len(self.answers) - 1)]
            self.requests.append(Seen(request.path, dict(request.headers), body))
            self._seen.notify_all()
        if answer.hang:
            await self._release.wait()
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- results -----------------------------------------------------------------------------------

STARTED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def job_result(steps: int = 2, output_bytes: int = 20, summary: str | None = None) -> JobResult:
    return JobResult(
        instance_id="build",
        attempt=1,
        conclusion="success",
        outputs={"version": "1.2.0"},
        steps=tuple(
            StepResult(
                name=f"Run make part-{i}",
                id=f"part{i}",
                outcome="success",
                conclusion="success",
                outputs={"digest": "f" * output_bytes},
                started_at=STARTED,
                completed_at=STARTED,
                summary=summary,
            )
            for i in range(steps)
        ),
        annotations=(Annotation(level="notice", message="built", step="Run make part-0"),),
        started_at=STARTED,
        completed_at=STARTED,
    )


def fast(budget: float = 5.0, **changes: Any) -> RetryPolicy:
    values: dict[str, Any] = {
        "budget_seconds": budget,
        "first_delay_seconds": 0.02,
        "max_delay_seconds": 0.1,
        "request_timeout_seconds": 2.0,
        **changes,
    }
    return RetryPolicy(**values)


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def sender(target: CallbackTarget, policy: RetryPolicy, log: Log) -> CallbackSender:
    return CallbackSender(target, policy, jitter=lambda: 0.5, log=log)


# --- configuration -----------------------------------------------------------------------------


def test_the_env_names_and_size_limit_are_the_operators_and_the_receivers() -> None:
    from cairn.runner import callback

    assert callback.ENV_CALLBACK_URL == sandbox.ENV_CALLBACK_URL
    assert callback.ENV_CALLBACK_TOKEN == sandbox.ENV_CALLBACK_TOKEN
    assert callback.ENV_CALLBACK_SECRET_FILE == sandbox.ENV_CALLBACK_SECRET_FILE
    longest_key = len(CALLBACK_ANNOTATION_PREFIX) + 63
    assert receiver_callbacks.ANNOTATIONS_SIZE_LIMIT - longest_key == MAX_STORED_BYTES


def secret_file(tmp_path: Path, content: str = SECRET + "\n") -> Path:
    path = tmp_path / "callback" / "secret"
    path.parent.mkdir(exist_ok=True)
    path.write_text(content)
    return path


def env_for(url: str, secret: Path, token: str = TOKEN) -> dict[str, str]:
    return {
        "CAIRN_CALLBACK_URL": url,
        "CAIRN_CALLBACK_TOKEN": token,
        "CAIRN_CALLBACK_SECRET_FILE": str(secret),
    }


def test_the_target_comes_from_the_pods_env(tmp_path: Path) -> None:
    assert CallbackTarget.from_env({}) is None
    assert CallbackTarget.from_env({"CAIRN_CALLBACK_URL": " "}) is None
    url = f"http://cairn-webhook.cairn-system.svc:8080/callbacks/{TOKEN}"
    target = CallbackTarget.from_env(env_for(url, secret_file(tmp_path)))
    assert target == CallbackTarget(url=url, token=TOKEN, secret=SECRET)
    assert SECRET not in repr(target)  # the secret never reaches a log through repr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CAIRN_CALLBACK_URL": "http://h/callbacks/x"}, "CAIRN_CALLBACK_TOKEN, CAIRN_CALLBACK_SE"),
        ({"CAIRN_CALLBACK_TOKEN": TOKEN}, "CAIRN_CALLBACK_URL, CAIRN_CALLBACK_SECRET_FILE not set"),
    ],
)
def test_half_a_configuration_is_an_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(CallbackConfigError, match=message):
        CallbackTarget.from_env(env)


@pytest.mark.parametrize(
    ("url", "token", "message"),
    [
        (f"ftp://h/callbacks/{TOKEN}", TOKEN, "must be an http"),
        (f"http:///callbacks/{TOKEN}", TOKEN, "must be an http"),
        ("http://cairn-webhook.cairn-system.svc:8080", TOKEN, "must end in /callbacks/"),
        (f"http://h/callbacks/{TOKEN}", "not-a-token", "not a Cairn callback token"),
        (f"http://h:99999/callbacks/{TOKEN}", TOKEN, "not a URL"),
    ],
)
def test_a_malformed_url_or_token_is_an_error(
    tmp_path: Path, url: str, token: str, message: str
) -> None:
    with pytest.raises(CallbackConfigError, match=message):
        CallbackTarget.from_env(env_for(url, secret_file(tmp_path), token))


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "is empty"), ("\n", "is empty"), ("two words", "spaces"), ("abc\x01", "spaces")],
)
def test_an_unusable_secret_file_is_an_error(tmp_path: Path, content: str, message: str) -> None:
    url = f"http://h/callbacks/{TOKEN}"
    with pytest.raises(CallbackConfigError, match=message):
        CallbackTarget.from_env(env_for(url, secret_file(tmp_path, content)))


def test_a_missing_or_odd_secret_file_is_an_error(tmp_path: Path) -> None:
    url = f"http://h/callbacks/{TOKEN}"
    with pytest.raises(CallbackConfigError, match="does not exist"):
        CallbackTarget.from_env(env_for(url, tmp_path / "missing"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # would block an open()
    with pytest.raises(CallbackConfigError, match="does not exist"):
        CallbackTarget.from_env(env_for(url, fifo))
    big = secret_file(tmp_path, "a" * 5000)
    with pytest.raises(CallbackConfigError, match="more than 1024 bytes"):
        CallbackTarget.from_env(env_for(url, big))
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(CallbackConfigError, match="not ASCII"):
        CallbackTarget.from_env(env_for(url, binary))


def test_the_budget_setting() -> None:
    assert budget_from_env({}) == 30.0
    assert budget_from_env({"CAIRN_CALLBACK_TIMEOUT": "7.5"}) == 7.5
    for bad in ("0", "-1", "soon", "inf", "nan"):
        with pytest.raises(CallbackConfigError, match="CAIRN_CALLBACK_TIMEOUT must be"):
            budget_from_env({"CAIRN_CALLBACK_TIMEOUT": bad})
    with pytest.raises(CallbackConfigError, match="budget_seconds must be a positive"):
        RetryPolicy(budget_seconds=0)
    with pytest.raises(CallbackConfigError, match="max_attempts must be at least 1"):
        RetryPolicy(max_attempts=0)


# --- the decisions -----------------------------------------------------------------------------


def test_the_backoff_doubles_up_to_its_ceiling_with_jitter_and_retry_after() -> None:
    policy = RetryPolicy(first_delay_seconds=0.5, max_delay_seconds=8.0)
    assert [retry_delay(policy, n, 1.0) for n in range(1, 7)] == [0.5, 1, 2, 4, 8, 8]
    assert [retry_delay(policy, n, 0.0) for n in range(1, 4)] == [0.25, 0.5, 1]
    assert retry_delay(policy, 1, 0.0, retry_after=3.0) == 3.0
    assert retry_delay(policy, 4, 1.0, retry_after=0.1) == 4.0


@settings(max_examples=60, deadline=None)
@given(
    failures=st.integers(min_value=1, max_value=60),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    first=st.floats(min_value=0.01, max_value=5.0),
    cap=st.floats(min_value=0.01, max_value=60.0),
)
def test_a_delay_is_at_least_half_and_at_most_the_backoff(
    failures: int, jitter: float, first: float, cap: float
) -> None:
    policy = RetryPolicy(first_delay_seconds=first, max_delay_seconds=cap)
    ceiling = min(cap, first * 2 ** (failures - 1))
    delay = retry_delay(policy, failures, jitter)
    assert ceiling / 2 <= delay <= ceiling


def test_a_result_goes_by_callback_only_when_the_termination_message_cannot_carry_it() -> None:
    small = encode_termination_message(job_result())
    cut = encode_termination_message(job_result(steps=40, output_bytes=200))
    assert json.loads(cut)["truncated"] is True
    assert not should_send("auto", small)
    assert should_send("auto", cut)
    assert should_send("auto", None)  # no termination message was written
    assert should_send("always", small)
    assert not should_send("never", cut)


def test_the_body_is_the_whole_result_or_drops_summaries_to_fit() -> None:
    result = job_result(summary="## Tests\n\n| suite | passed |\n|---|---|\n| unit | 412 |")
    body, complete = callback_body(result) or (b"", False)
    assert complete and JobResult.model_validate_json(body) == result

    large = job_result(steps=3, summary="x" * 100_000)
    body, complete = callback_body(large) or (b"", True)
    assert not complete
    sent = JobResult.model_validate_json(body)
    assert [s.summary for s in sent.steps] == [None] * 3
    assert sent.steps[0].outputs == large.steps[0].outputs

    assert callback_body(job_result(steps=3, output_bytes=100_000)) is None


# --- against a scripted receiver ---------------------------------------------------------------


def test_the_result_is_posted_with_the_bearer_secret() -> None:
    log = Log()
    result = job_result(steps=40, output_bytes=200)
    with ScriptedReceiver(RECORDED) as receiver:
        outcome = sender(receiver.target(), fast(), log).send(result)
    assert (outcome.status, outcome.attempts, outcome.http_status) == ("recorded", 1, 202)
    assert outcome.delivered
    (seen,) = receiver.requests
    assert seen.path == f"/callbacks/{TOKEN}"
    assert seen.headers["Authorization"] == f"Bearer {SECRET}"
    assert seen.headers["Content-Type"] == "application/json"
    assert JobResult.model_validate_json(seen.body) == result
    assert log.lines == ["callback: the result was recorded"]


def test_a_duplicate_answer_counts_as_delivered() -> None:
    with ScriptedReceiver(Answer(200, {"status": "duplicate"})) as receiver:
        outcome = sender(receiver.target(), fast(), Log()).send(job_result())
    assert outcome.status == "duplicate" and outcome.delivered


def test_5xx_and_429_are_retried_until_recorded() -> None:
    log = Log()
    script = (
        Answer(503, {"status": "unavailable", "message": "the operator key is not loaded"}),
        Answer(502, {"status": "error", "message": "Kubernetes API: refused"}),
        Answer(429, {"message": "slow down"}),
        RECORDED,
    )
    jitters: list[float] = []

    def jitter() -> float:
        jitters.append(0.25)
        return 0.25

    with ScriptedReceiver(*script) as receiver:
        policy = fast(max_attempts=6)
        outcome = CallbackSender(receiver.target(), policy, jitter=jitter, log=log).send(
            job_result()
        )
    assert (outcome.status, outcome.attempts) == ("recorded", 4)
    assert len(receiver.requests) == 4
    assert len({r.body for r in receiver.requests}) == 1  # the same payload each time
    assert jitters == [0.25] * 3  # one draw per wait
    assert "attempt 1 failed (503 the operator key is not loaded)" in log.lines[0]
    assert "attempt 3 failed (429 slow down)" in log.lines[2]
    assert log.lines[-1] == "callback: the result was recorded (attempt 4)"


def test_retry_after_is_honoured_as_a_minimum() -> None:
    log = Log()
    busy = Answer(429, {"message": "busy"}, headers={"Retry-After": "0.3"})
    with ScriptedReceiver(busy, RECORDED) as receiver:
        outcome = sender(receiver.target(), fast(), log).send(job_result())
    assert outcome.status == "recorded"
    assert "retrying in 0.3 s" in log.lines[0]


@pytest.mark.parametrize(
    ("status", "verdict", "logged"),
    [
        (403, "rejected", "callback rejected (403): wrong or missing callback secret"),
        (410, "stale", "callback stale (410): no; the attempt is over"),
        (413, "too_large", "callback too large (413): no; the receiver cannot store"),
        (409, "conflict", "callback conflict"),
        (400, "refused", "callback refused (400)"),
        (404, "refused", "callback refused (404)"),
    ],
)
def test_a_4xx_answer_is_final(status: int, verdict: str, logged: str) -> None:
    log = Log()
    messages = {403: "wrong or missing callback secret for this token"}
    answer = Answer(status, {"status": "x", "message": messages.get(status, "no")})
    with ScriptedReceiver(answer, RECORDED) as receiver:
        outcome = sender(receiver.target(), fast(), log).send(job_result())
    assert (outcome.status, outcome.attempts, outcome.http_status) == (verdict, 1, status)
    assert not outcome.delivered
    assert len(receiver.requests) == 1
    assert len(log.lines) == 1 and log.lines[0].startswith(logged), log.lines


def test_attempts_are_bounded() -> None:
    log = Log()
    with ScriptedReceiver(Answer(500, {"message": "boom"})) as receiver:
        outcome = sender(receiver.target(), fast(max_attempts=3), log).send(job_result())
    assert (outcome.status, outcome.attempts, outcome.http_status) == ("gave_up", 3, 500)
    assert len(receiver.requests) == 3
    assert log.lines[-1].startswith("callback failed: gave up (500): after 3 attempt(s)")
    assert log.lines[-1].endswith("500 boom")


def test_a_refused_connection_is_retried_within_the_budget() -> None:
    log = Log()
    target = CallbackTarget(
        url=f"http://127.0.0.1:{closed_port()}/callbacks/{TOKEN}", token=TOKEN, secret=SECRET
    )
    policy = fast(budget=0.8, max_attempts=1000)
    began = time.monotonic()
    outcome = sender(target, policy, log).send(job_result())
    elapsed = time.monotonic() - began
    assert outcome.status == "gave_up" and outcome.http_status is None
    assert outcome.attempts > 1
    assert elapsed < policy.budget_seconds + 1.0
    assert "Connection refused" in outcome.message
    assert "retrying in" in log.lines[0]


def test_a_receiver_that_never_answers_cannot_hold_the_runner_past_the_budget() -> None:
    log = Log()
    with ScriptedReceiver(HANG) as receiver:
        policy = fast(budget=1.0, request_timeout_seconds=0.4, max_attempts=10)
        began = time.monotonic()
        outcome = sender(receiver.target(), policy, log).send(job_result())
        elapsed = time.monotonic() - began
    assert outcome.status == "gave_up" and outcome.attempts >= 2
    assert "no answer within 0.4 s" in log.text
    assert elapsed < policy.budget_seconds + 1.0


def test_the_budget_is_measured_on_the_injected_clock() -> None:
    """A clock that leaps past the budget after the first attempt: no wait, no
    second attempt, whatever the wall clock says."""
    readings: list[float] = []

    def clock() -> float:
        readings.append(0.0 if len(readings) < 2 else 100.0)
        return readings[-1]

    log = Log()
    with ScriptedReceiver(Answer(503)) as receiver:
        outcome = CallbackSender(receiver.target(), fast(budget=10), monotonic=clock, log=log).send(
            job_result()
        )
    assert (outcome.status, outcome.attempts) == ("gave_up", 1)
    assert len(receiver.requests) == 1
    assert "in 100.0 s" in outcome.message


def test_interrupt_abandons_the_request_in_flight() -> None:
    log = Log()
    outcomes: list[Any] = []
    with ScriptedReceiver(HANG) as receiver:
        client = sender(receiver.target(), fast(budget=60, request_timeout_seconds=30), log)
        thread = threading.Thread(target=lambda: outcomes.append(client.send(job_result())))
        thread.start()
        receiver.wait_for_requests(1)
        client.interrupt()
        thread.join(5)
        assert not thread.is_alive()
    (outcome,) = outcomes
    assert (outcome.status, outcome.attempts) == ("interrupted", 1)
    assert log.lines[-1].startswith("callback interrupted")


def test_a_result_too_large_for_any_annotation_is_not_sent() -> None:
    log = Log()
    with ScriptedReceiver(RECORDED) as receiver:
        outcome = sender(receiver.target(), fast(), log).send(job_result(3, 100_000))
    assert (outcome.status, outcome.attempts) == ("too_large", 0)
    assert receiver.requests == []
    assert "over the" in log.lines[0] and "even without step summaries" in log.lines[0]


# --- against the real receiver -----------------------------------------------------------------


@contextlib.contextmanager
def webhook_receiver(tmp_path: Path, cluster: InMemoryCluster) -> Iterator[str]:
    """The real ``cairn webhook`` app on loopback, its cluster in memory."""
    (tmp_path / "webhook-secrets").mkdir()
    (tmp_path / "webhook-secrets" / "default").write_text("github webhook secret")
    (tmp_path / "operator-key").write_bytes(OPERATOR_KEY)
    config = ReceiverConfig.model_validate(
        {"repositories": [{"name": "octo-org/hello-world", "namespace": NAMESPACE}]}
    )
    loader = SecretLoader(
        config.secret_names,
        webhook_dir=tmp_path / "webhook-secrets",
        operator_key_file=tmp_path / "operator-key",
        env={},
    )
    receiver = Receiver(
        config=config,
        secrets=SecretHolder(loader),
        runs=cluster,
        workflows=cluster,
        secret_refresh_seconds=None,
    )
    cluster.put_workflow(workflow_object(NAMESPACE, WORKFLOW, {"build": running_job("build")}))
    with serving(create_app(receiver)) as url:
        yield url


def stored_result(cluster: InMemoryCluster) -> JobResult:
    annotations = cluster.workflows[(NAMESPACE, WORKFLOW)]["metadata"]["annotations"]
    return JobResult.model_validate_json(annotations[CALLBACK_ANNOTATION_PREFIX + TOKEN])


def test_the_receiver_stores_the_full_result_in_the_workflows_annotation(
    tmp_path: Path,
) -> None:
    cluster = InMemoryCluster()
    result = job_result(steps=40, output_bytes=200, summary="## Coverage: 93%")
    assert json.loads(encode_termination_message(result))["truncated"] is True
    log = Log()
    with webhook_receiver(tmp_path, cluster) as url:
        target = CallbackTarget(url=f"{url}/callbacks/{TOKEN}", token=TOKEN, secret=SECRET)
        outcome = sender(target, fast(), log).send(result)
        assert (outcome.status, outcome.http_status) == ("recorded", 202)
        assert stored_result(cluster) == result

        # sent again (a retry whose answer was lost): harmless
        again = sender(target, fast(), log).send(result)
        assert (again.status, again.http_status) == ("duplicate", 200)

        # another attempt's secret is refused, and nothing is retried
        wrong = CallbackTarget(url=target.url, token=TOKEN, secret="0" * 64)
        writes = len([c for c in cluster.calls if c[0] == "annotate"])
        refused = sender(wrong, fast(), log).send(result)
        assert (refused.status, refused.attempts) == ("rejected", 1)
        assert len([c for c in cluster.calls if c[0] == "annotate"]) == writes

        # the attempt finished: its token is stale
        cluster.put_workflow(
            workflow_object(NAMESPACE, WORKFLOW, {"build": running_job("build")}, phase="Succeeded")
        )
        stale = sender(target, fast(), log).send(result)
        assert (stale.status, stale.attempts, stale.http_status) == ("stale", 1, 410)


def test_a_tls_failure_is_an_attempts_failure_not_a_crash() -> None:
    """An https URL answered by a plain-HTTP server: the handshake fails, the
    attempts are bounded, and the outcome says why."""
    log = Log()
    with ScriptedReceiver(RECORDED) as receiver:
        url = receiver.callback_url().replace("http://", "https://")
        target = CallbackTarget(url=url, token=TOKEN, secret=SECRET)
        outcome = sender(target, fast(max_attempts=2), log).send(job_result())
    assert (outcome.status, outcome.attempts, outcome.http_status) == ("gave_up", 2, None)
    assert "SSL" in outcome.message
