"""``cairn runner``: the pod entrypoint, end to end, and the termination message."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.unit.runner import test_callback as callback_tests

from cairn.cli import main as cairn_main
from cairn.engine.jobspec import Annotation, JobResult, JobSpec, StepResult
from cairn.runner.cli import read_secrets
from cairn.runner.errors import RunnerError, RunnerSetupError
from cairn.runner.termination import decode_termination_message, encode_termination_message

Spec = Callable[..., JobSpec]


def _secret_volume(root: Path, secrets: dict[str, str]) -> Path:
    """A directory laid out like a mounted Kubernetes Secret volume."""
    data = root / "..2024_01_01_00_00_00.000"
    data.mkdir(parents=True)
    for name, value in secrets.items():
        (data / name).write_text(value)
        (root / name).symlink_to(Path("..data") / name)
    (root / "..data").symlink_to(data.name)
    return root


def test_read_secrets_from_a_secret_volume(tmp_path: Path) -> None:
    volume = _secret_volume(tmp_path / "secrets", {"TOKEN": "abc", "OTHER": "x\n"})
    assert read_secrets(volume, ()) == {"OTHER": "x\n", "TOKEN": "abc"}
    assert read_secrets(volume, ("TOKEN", "MISSING")) == {"TOKEN": "abc"}
    with pytest.raises(RunnerSetupError, match="does not exist"):
        read_secrets(tmp_path / "nope", ())


def test_runner_cli_runs_the_job_and_writes_a_compact_result(
    spec: Spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = spec(
        [
            {
                "id": "hello",
                "run": 'echo "hi $NAME"; echo "greeting=hi" >> "$GITHUB_OUTPUT"',
                "env": {"NAME": "${{ secrets.NAME }}"},
            },
        ],
        job={"outputs": {"greeting": "${{ steps.hello.outputs.greeting }}"}},
    )
    s = s.model_copy(update={"secret_names": ("NAME",)})
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(s.model_dump_json(by_alias=True))
    volume = _secret_volume(tmp_path / "secrets", {"NAME": "octocat"})
    result_file = tmp_path / "termination-log"
    code = cairn_main(
        [
            "runner",
            "--spec",
            str(spec_file),
            "--result",
            str(result_file),
            "--workspace",
            str(tmp_path / "ws"),
            "--secrets-dir",
            str(volume),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "hi ***" in out and "octocat" not in out
    text = result_file.read_text()
    assert len(text.encode()) <= 4096 and "\n" not in text
    result = decode_termination_message(text)
    assert result.conclusion == "success" and result.outputs == {"greeting": "hi"}
    assert not result.truncated


def test_runner_cli_exit_codes(
    spec: Spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec([{"run": "exit 3"}]).model_dump_json(by_alias=True))
    assert cairn_main(["runner", "--spec", str(spec_file), "--workspace", str(tmp_path)]) == 1
    spec_file.write_text('{"not": "a spec"}')
    assert cairn_main(["runner", "--spec", str(spec_file)]) == 2
    assert "invalid job spec" in capsys.readouterr().err
    assert cairn_main(["runner", "--spec", str(tmp_path / "missing.json")]) == 2


def test_sigterm_cancels_the_job_and_always_steps_run(spec: Spec, tmp_path: Path) -> None:
    """A deleted pod gets SIGTERM: the runner cancels the job the GitHub way."""
    started = tmp_path / "started"
    s = spec(
        [
            {"run": f"touch {started}; sleep 60"},
            {"if": "always()", "run": "echo cleanup-ran"},
        ]
    )
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(s.model_dump_json(by_alias=True))
    result_file = tmp_path / "result.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cairn.cli",
            "runner",
            "--spec",
            str(spec_file),
            "--result",
            str(result_file),
            "--workspace",
            str(tmp_path / "ws"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 20
    while not started.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "cleanup-ran" in out
    result = decode_termination_message(result_file.read_text())
    assert result.conclusion == "cancelled"
    assert [st.outcome for st in result.steps] == ["cancelled", "success"]


def _big_result(steps: int, output_size: int) -> JobResult:
    return JobResult(
        instance_id="build.3",
        attempt=2,
        conclusion="failure",
        outputs={"artifact": "a" * 100},
        reason="step_failed",
        steps=tuple(
            StepResult(
                name=f"Step {i}",
                outcome="success",
                conclusion="success",
                outputs={"out": "x" * output_size},
                summary="## big summary " * 50,
            )
            for i in range(steps)
        ),
        annotations=tuple(Annotation(level="warning", message="w" * 200) for _ in range(10)),
    )


def test_termination_message_drops_detail_to_fit() -> None:
    small = _big_result(steps=2, output_size=10)
    text = encode_termination_message(small)
    decoded = decode_termination_message(text)
    assert not decoded.truncated
    assert decoded.steps[0].summary is None  # summaries never travel this way
    assert len(decoded.annotations) == 10

    medium = _big_result(steps=20, output_size=100)
    decoded = decode_termination_message(encode_termination_message(medium))
    assert decoded.truncated
    assert decoded.outputs == {"artifact": "a" * 100}
    assert decoded.annotations == ()

    huge = _big_result(steps=40, output_size=5000).model_copy(
        update={"outputs": {"o": "z" * 5000}, "reason": "r" * 5000}
    )
    text = encode_termination_message(huge)
    assert len(text.encode()) <= 4096
    decoded = decode_termination_message(text)
    assert decoded.truncated and decoded.steps == () and decoded.outputs == {}
    assert decoded.conclusion == "failure" and decoded.instance_id == "build.3"


def test_decode_rejects_garbage() -> None:
    with pytest.raises(RunnerError, match="not a job result"):
        decode_termination_message(json.dumps({"x": 1}))


# --- the callback ------------------------------------------------------------------------------

BIG_STEP = {
    "id": "s",
    "run": 'printf "big=%05000d\\n" 0 >> "$GITHUB_OUTPUT"; echo "## Coverage 93%" >> '
    '"$GITHUB_STEP_SUMMARY"',
}
BIG_JOB = {"outputs": {"big": "${{ steps.s.outputs.big }}"}}


def _runner(spec_obj: JobSpec, tmp_path: Path, *extra: str) -> tuple[int, Path]:
    """Run ``cairn runner`` in-process; (exit code, the termination-log file)."""
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec_obj.model_dump_json(by_alias=True))
    result_file = tmp_path / "termination-log"
    args = ["runner", "--spec", str(spec_file), "--result", str(result_file)]
    code = cairn_main([*args, "--workspace", str(tmp_path / "ws"), *extra])
    return code, result_file


def _callback_env(monkeypatch: pytest.MonkeyPatch, url: str, tmp_path: Path) -> None:
    for name, value in callback_tests.env_for(url, callback_tests.secret_file(tmp_path)).items():
        monkeypatch.setenv(name, value)


def test_a_result_the_termination_message_cannot_carry_goes_by_callback(
    spec: Spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with callback_tests.ScriptedReceiver(callback_tests.RECORDED) as receiver:
        _callback_env(monkeypatch, receiver.callback_url(), tmp_path)
        code, result_file = _runner(spec([BIG_STEP], job=BIG_JOB), tmp_path)
    assert code == 0
    cut = decode_termination_message(result_file.read_text())
    assert cut.truncated and cut.conclusion == "success" and cut.outputs == {}
    (request,) = receiver.requests
    assert request.headers["Authorization"] == f"Bearer {callback_tests.SECRET}"
    full = JobResult.model_validate_json(request.body)
    assert not full.truncated
    assert full.outputs == {"big": "0" * 5000}
    assert full.steps[0].outputs == {"big": "0" * 5000}
    assert full.steps[0].summary == "## Coverage 93%\n"
    assert "callback: the result was recorded" in capsys.readouterr().err


def test_a_result_that_fits_costs_no_request_unless_asked(
    spec: Spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = spec([{"run": "echo small"}])
    with callback_tests.ScriptedReceiver(callback_tests.RECORDED) as receiver:
        _callback_env(monkeypatch, receiver.callback_url(), tmp_path)
        code, result_file = _runner(small, tmp_path)
        assert code == 0 and not decode_termination_message(result_file.read_text()).truncated
        assert receiver.requests == []
        code, _ = _runner(small, tmp_path, "--callback", "always")
        assert code == 0 and len(receiver.requests) == 1
        code, _ = _runner(spec([BIG_STEP], job=BIG_JOB), tmp_path, "--callback", "never")
        assert code == 0 and len(receiver.requests) == 1


def test_a_failed_callback_never_changes_the_exit_code(
    spec: Spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = spec([BIG_STEP, {"run": "exit 4"}], job=BIG_JOB)
    forbidden = callback_tests.Answer(403, {"message": "wrong or missing callback secret"})
    with callback_tests.ScriptedReceiver(forbidden) as receiver:
        _callback_env(monkeypatch, receiver.callback_url(), tmp_path)
        code, result_file = _runner(failing, tmp_path)
    assert code == 1
    assert decode_termination_message(result_file.read_text()).conclusion == "failure"
    err = capsys.readouterr().err
    assert "callback rejected (403): wrong or missing callback secret" in err
    assert "the operator gets the result from the termination message" in err

    # a budget that leaves room for a retry even on a loaded machine (the first
    # backoff is up to 0.5 s); it still bounds how long a dead receiver holds the pod
    monkeypatch.setenv("CAIRN_CALLBACK_TIMEOUT", "2.5")
    with callback_tests.ScriptedReceiver(callback_tests.Answer(503)) as receiver:
        _callback_env(monkeypatch, receiver.callback_url(), tmp_path)
        code, _ = _runner(spec([BIG_STEP], job=BIG_JOB), tmp_path)
    assert code == 0
    assert len(receiver.requests) >= 2
    assert "callback failed: gave up (503)" in capsys.readouterr().err


def test_a_misconfigured_callback_is_reported_and_the_job_still_runs(
    spec: Spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CAIRN_CALLBACK_URL", "http://127.0.0.1:9/callbacks/x")
    code, result_file = _runner(spec([BIG_STEP], job=BIG_JOB), tmp_path)
    assert code == 0 and decode_termination_message(result_file.read_text()).truncated
    err = capsys.readouterr().err
    assert "no callback: the callback needs CAIRN_CALLBACK_URL" in err
    assert "CAIRN_CALLBACK_TOKEN, CAIRN_CALLBACK_SECRET_FILE not set" in err

    with callback_tests.ScriptedReceiver(callback_tests.RECORDED) as receiver:
        _callback_env(monkeypatch, receiver.callback_url(), tmp_path)
        monkeypatch.setenv("CAIRN_CALLBACK_TIMEOUT", "soon")
        code, _ = _runner(spec([BIG_STEP], job=BIG_JOB), tmp_path)
    assert code == 0 and receiver.requests == []
    assert "no callback: CAIRN_CALLBACK_TIMEOUT must be a positive" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        _runner(spec([BIG_STEP]), tmp_path, "--callback-timeout", "0")
    assert exit_.value.code == 2
    assert "--callback-timeout: must be a positive number" in capsys.readouterr().err


def test_without_a_termination_message_the_callback_carries_the_result(
    spec: Spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec([{"run": "echo small"}]).model_dump_json(by_alias=True))
    unwritable = tmp_path / "no-such-dir" / "termination-log"
    with callback_tests.ScriptedReceiver(callback_tests.RECORDED) as receiver:
        _callback_env(monkeypatch, receiver.callback_url(), tmp_path)
        args = ["--spec", str(spec_file), "--result", str(unwritable)]
        code = cairn_main(["runner", *args, "--workspace", str(tmp_path / "ws")])
    assert code == 0
    assert "cannot write the result to" in capsys.readouterr().err
    (request,) = receiver.requests
    assert JobResult.model_validate_json(request.body).conclusion == "success"


def test_the_runner_reports_through_the_real_receiver(
    spec: Spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``cairn runner`` → ``POST /callbacks/<token>`` → the annotation
    ``callback.cairn.dev/<token>`` on the CIWorkflow, holding the full result."""
    cluster = callback_tests.InMemoryCluster()
    with callback_tests.webhook_receiver(tmp_path, cluster) as url:
        _callback_env(monkeypatch, f"{url}/callbacks/{callback_tests.TOKEN}", tmp_path)
        code, result_file = _runner(spec([BIG_STEP, {"run": "echo done"}], job=BIG_JOB), tmp_path)
    assert code == 0
    assert decode_termination_message(result_file.read_text()).truncated
    stored = callback_tests.stored_result(cluster)
    assert (stored.instance_id, stored.attempt, stored.conclusion) == ("build", 1, "success")
    assert not stored.truncated
    assert stored.outputs == {"big": "0" * 5000}
    assert [s.outputs for s in stored.steps] == [{"big": "0" * 5000}, {}]
    assert stored.steps[0].summary == "## Coverage 93%\n"


def test_sigterm_while_calling_back_keeps_the_jobs_exit_code(spec: Spec, tmp_path: Path) -> None:
    """The pod is deleted while the receiver does not answer: the runner stops
    calling back at once and exits as the job ended."""
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec([BIG_STEP], job=BIG_JOB).model_dump_json(by_alias=True))
    result_file = tmp_path / "termination-log"
    with callback_tests.ScriptedReceiver(callback_tests.HANG) as receiver:
        env = {
            **os.environ,
            **callback_tests.env_for(receiver.callback_url(), callback_tests.secret_file(tmp_path)),
            "CAIRN_CALLBACK_TIMEOUT": "120",
        }
        args = ["--spec", str(spec_file), "--result", str(result_file)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "cairn.cli", "runner", *args, "--workspace", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        receiver.wait_for_requests(1, timeout=30)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "callback interrupted" in err
    assert decode_termination_message(result_file.read_text()).truncated
