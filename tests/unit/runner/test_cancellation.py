"""Cancellation and timeouts: the GitHub way (always()/cancelled() steps still
run), the whole process tree ended, and nothing left behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cairn.engine.jobspec import JobSpec
from cairn.runner.logsink import MemorySink
from cairn.runner.settings import RunnerSettings

Spec = Callable[..., JobSpec]
Until = Callable[..., Awaitable[None]]


async def test_cancel_ends_the_running_step_and_runs_always_steps(
    spec: Spec, run: Any, until: Until, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    child = tmp_path / "child.pid"
    s = spec(
        [
            {"id": "long", "run": f"sleep 60 & echo $! > {child}; touch {started}; wait"},
            {"id": "normal", "run": "echo no"},
            {"id": "on_failure", "if": "failure()", "run": "echo no"},
            {"id": "on_cancel", "if": "cancelled()", "run": "echo cleanup-after-cancel"},
            {"id": "always", "if": "always()", "run": "echo always"},
        ]
    )
    cancel = asyncio.Event()
    task = asyncio.create_task(run(s, cancel=cancel))
    await until(started.exists)
    cancel.set()
    result, sink = await asyncio.wait_for(task, 10)
    assert result.conclusion == "cancelled"
    assert result.reason == "cancelled"
    assert {st.id: st.outcome for st in result.steps} == {
        "long": "cancelled",
        "normal": "skipped",
        "on_failure": "skipped",
        "on_cancel": "success",
        "always": "success",
    }
    assert result.steps[0].conclusion == "cancelled"
    assert sink.output(step=3) == ["cleanup-after-cancel"]
    assert not Path(f"/proc/{child.read_text().strip()}").exists() or _zombie(child)


async def test_a_running_always_step_is_not_interrupted_by_cancel(
    spec: Spec, run: Any, until: Until, tmp_path: Path
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    s = spec(
        [
            {
                "id": "teardown",
                "if": "always()",
                "run": f"touch {started}\n"
                f"while [ ! -e {release} ]; do sleep 0.02; done\n"
                "echo finished",
            },
            {"id": "after", "run": "echo no"},
        ]
    )
    cancel = asyncio.Event()
    log = MemorySink()
    task = asyncio.create_task(run(s, cancel=cancel, sink=log))
    await until(started.exists)
    cancel.set()
    # the runner has seen the cancellation (and re-evaluated the step's if)
    await until(lambda: "The job was cancelled." in log.lines)
    release.touch()
    result, sink = await asyncio.wait_for(task, 10)
    assert result.steps[0].outcome == "success"
    assert sink.output(step=0) == ["finished"]
    assert result.steps[1].outcome == "skipped"
    assert result.conclusion == "cancelled"


async def test_cancel_before_the_job_starts(spec: Spec, run: Any) -> None:
    cancel = asyncio.Event()
    cancel.set()
    s = spec([{"run": "echo no"}, {"if": "always()", "run": "echo yes"}])
    result, sink = await run(s, cancel=cancel)
    assert [st.outcome for st in result.steps] == ["skipped", "success"]
    assert sink.output() == ["yes"]
    assert result.conclusion == "cancelled"


async def test_job_timeout_fails_with_timed_out(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {"id": "slow", "run": "sleep 60"},
            {"id": "report", "if": "always()", "run": "echo reporting"},
        ],
        timeout_minutes=0.01,
    )
    result, sink = await asyncio.wait_for(run(s), 10)
    assert result.conclusion == "failure"
    assert result.reason == "timed_out"
    assert result.steps[0].outcome == "cancelled"
    assert sink.output(step=1) == ["reporting"]
    assert any("exceeded the maximum execution time" in a.message for a in result.annotations)


async def test_cancellation_timeout_ends_even_always_steps(
    spec: Spec, run: Any, until: Until, tmp_path: Path, settings: RunnerSettings
) -> None:
    started = tmp_path / "started"
    s = spec(
        [
            {"id": "stubborn", "if": "always()", "run": f"touch {started}; sleep 60"},
            {"id": "later", "if": "always()", "run": "echo too late"},
        ]
    )
    quick = RunnerSettings(**{**settings.__dict__, "cancel_timeout": 0.3})
    cancel = asyncio.Event()
    task = asyncio.create_task(run(s, cancel=cancel, settings_=quick))
    await until(started.exists)
    cancel.set()
    result, sink = await asyncio.wait_for(task, 10)
    assert [st.outcome for st in result.steps] == ["cancelled", "cancelled"]
    assert sink.output() == []
    assert result.conclusion == "cancelled"


async def test_background_processes_are_ended_with_the_job(
    spec: Spec, run: Any, tmp_path: Path
) -> None:
    pid_file = tmp_path / "server.pid"
    s = spec(
        [
            {"run": f"sleep 60 > /dev/null 2>&1 & echo $! > {pid_file}"},
            {"run": f'kill -0 "$(cat {pid_file})" && echo still-running'},
        ]
    )
    result, sink = await run(s)
    assert result.conclusion == "success"
    # a background process outlives its step, as on GitHub ...
    assert sink.output(step=1) == ["still-running"]
    # ... but not the job
    pid = pid_file.read_text().strip()
    assert not Path(f"/proc/{pid}").exists() or _zombie(pid_file)
    assert "Cleaning up orphan processes" in sink.lines


def _zombie(pid_file: Path) -> bool:
    stat = Path(f"/proc/{pid_file.read_text().strip()}/stat").read_text()
    return stat[stat.rfind(")") + 2] == "Z"
