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
