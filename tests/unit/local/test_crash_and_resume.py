"""Durability: ``cairn run`` killed at any point (``kill -9``, Ctrl-C once or
twice) is continued by ``cairn run --resume RUN_ID``, and side-effect counter
files prove that jobs which had finished ran exactly once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cairn.engine.actions import StartJob
from cairn.engine.decide import decide
from cairn.engine.events import JobStarted
from cairn.engine.jobspec import JobResult, StepResult
from cairn.local.session import RunOptions, Session, start
from cairn.local.store import ResultRecord
from tests.unit.local.conftest import Repo, RunCairn, cairn_command, run_process, wait_for

pytestmark = pytest.mark.slow


def counts(directory: Path) -> dict[str, int]:
    return {entry.name: len(entry.read_text().split()) for entry in sorted(directory.iterdir())}


def only_run_id(repo: Repo) -> str:
    runs = [p.name for p in (repo.path / ".cairn").iterdir() if p.name.isdigit()]
    assert len(runs) == 1, runs
    return runs[0]


def checkpoint(repo: Repo, run_id: str) -> dict[str, Any]:
    path = repo.path / ".cairn" / run_id / "state.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data


def phases(repo: Repo, run_id: str, workflow: str = "ci.yml") -> dict[str, str]:
    state = checkpoint(repo, run_id).get("workflows", {}).get(workflow, {})
    return {
        job: entry.get("c") or entry.get("p", "pending")
        for job, entry in state.get("j", {}).items()
    }


def start_cairn(repo: Repo, *args: str) -> subprocess.Popen[str]:
    """``cairn run`` in its own process group, as a terminal would start it."""
    return subprocess.Popen(
        cairn_command("--json", *args),
        cwd=repo.path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


WORKFLOW = """
on: push
env:
  COUNTERS: {counters}
jobs:
  prepare:
    runs-on: ubuntu-latest
    outputs:
      token: ${{{{ steps.t.outputs.token }}}}
    steps:
      - id: t
        run: |
          echo run >> "$COUNTERS/prepare"
          echo "token=abc123" >> "$GITHUB_OUTPUT"
  build:
    needs: prepare
    runs-on: ubuntu-latest
    strategy:
      matrix:
        part: [1, 2]
    steps:
      - run: echo run >> "$COUNTERS/build-${{{{ matrix.part }}}}"
  slow:
    needs: prepare
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo run >> "$COUNTERS/slow"
          echo $$ > {marker}.tmp && mv {marker}.tmp {marker}
          while [ ! -f {release} ]; do sleep 0.05; done
  finish:
    needs: [build, slow]
    runs-on: ubuntu-latest
    steps:
      - run: |
          test "${{{{ needs.prepare.outputs.token }}}}" = ""
          echo run >> "$COUNTERS/finish"
  report:
    needs: [prepare, finish]
    runs-on: ubuntu-latest
    steps:
      - run: |
          test "${{{{ needs.prepare.outputs.token }}}}" = abc123
          echo run >> "$COUNTERS/report"
"""


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    counters = tmp_path / "counters"
    counters.mkdir()
    return {
        "counters": counters,
        "marker": tmp_path / "slow-started",
        "release": tmp_path / "release",
    }


def test_kill_9_mid_run_then_resume_runs_finished_jobs_exactly_once(
    repo: Repo, places: dict[str, Path]
) -> None:
    repo.workflow(WORKFLOW.format(**places))
    repo.commit()
    process = start_cairn(repo, "--max-parallel", "4")
    try:
        wait_for(lambda: (repo.path / ".cairn").is_dir(), what="the state directory")
        run_id = only_run_id(repo)
        wait_for(
            lambda: (
                places["marker"].exists()
                and phases(repo, run_id).get("build.0") == "success"
                and phases(repo, run_id).get("build.1") == "success"
            ),
            what="slow to be running and build to have finished",
        )
    finally:
        kill_group(process.pid)
        process.communicate()
        # the step runs in its own process group, as on a runner: a machine
        # crash takes it too
        if places["marker"].exists():
            kill_group(int(places["marker"].read_text()))
    assert process.returncode == -signal.SIGKILL
    before = phases(repo, run_id)
    assert before["slow"] == "running"
    assert before["finish"] == "waiting"

    places["release"].touch()
    resumed = run_process(repo, "--resume", run_id)
    assert resumed.exit_code == 0, resumed.stderr
    assert resumed.summary is not None
    assert resumed.summary["run_id"] == run_id
    assert resumed.conclusions() == {
        "prepare": "success",
        "build.0": "success",
        "build.1": "success",
        "slow": "success",
        "finish": "success",
        "report": "success",
    }
    assert resumed.job("slow")["attempt"] == 2
    assert resumed.job("build.0")["attempt"] == 1
    # finished jobs ran once; the lost attempt of slow ran, then its new attempt
    assert counts(places["counters"]) == {
        "build-1": 1,
        "build-2": 1,
        "finish": 1,
        "prepare": 1,
        "report": 1,
        "slow": 2,
    }
    assert "Resuming run" in resumed.stderr
    # a finished run resumes to its result, running nothing
    again = run_process(repo, "--resume", "latest")
    assert again.exit_code == 0
    assert counts(places["counters"])["prepare"] == 1


def test_a_run_is_executed_by_one_process_at_a_time(repo: Repo, places: dict[str, Path]) -> None:
    repo.workflow(WORKFLOW.format(**places))
    repo.commit()
    process = start_cairn(repo)
    try:
        wait_for(places["marker"].exists, what="slow to be running")
        run_id = only_run_id(repo)
        second = run_process(repo, "--resume", run_id)
        assert second.exit_code == 2
        assert f"run {run_id} is being executed by another cairn run process" in second.stderr
        places["release"].touch()
        out, err = process.communicate(timeout=120)
    finally:
        kill_group(process.pid)
    assert process.returncode == 0, err
    assert json.loads(out)["conclusion"] == "success"


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not reaped yet, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


ORPHAN = """
on: push
jobs:
  serve:
    runs-on: ubuntu-latest
    steps:
      - run: |
          sleep 300 &
          echo "$$ $! $RUNNER_TEMP" > {marker}.tmp && mv {marker}.tmp {marker}
          wait
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_killed_cairn_run_takes_its_steps_with_it(repo: Repo, places: dict[str, Path]) -> None:
    """kill -9 of cairn run alone: the steps run in their own process groups,
    yet they end with it (and their temporary directory goes), so a resumed
    attempt never races a ghost of the lost one."""
    repo.workflow(ORPHAN.format(**places))
    repo.commit()
    process = start_cairn(repo)
    try:
        wait_for(places["marker"].exists, what="the step to be running")
        step, child, temp = places["marker"].read_text().split()
        assert running(int(step)) and running(int(child)) and Path(temp).is_dir()
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
        wait_for(lambda: not running(int(step)), what="the step's shell to end")
        wait_for(lambda: not running(int(child)), what="its background process to end")
        wait_for(lambda: not Path(temp).exists(), what="RUNNER_TEMP to be removed")
    finally:
        kill_group(process.pid)
        if places["marker"].exists():
            kill_group(int(places["marker"].read_text().split()[0]))


CANCELLABLE = """
on: push
jobs:
  work:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo run >> {counters}/work
          touch {marker}
          while [ ! -f {release} ]; do sleep 0.05; done
  later:
    needs: work
    runs-on: ubuntu-latest
    steps:
      - run: echo run >> {counters}/later
  report:
    needs: work
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "work was ${{{{ needs.work.result }}}}"
          echo run >> {counters}/report
          touch {marker}-report
          while [ ! -f {release}-report ]; do sleep 0.05; done
"""


def test_ctrl_c_cancels_the_github_way_and_resume_reruns_what_was_cancelled(
    repo: Repo, places: dict[str, Path]
) -> None:
    repo.workflow(CANCELLABLE.format(**places))
    repo.commit()
    Path(f"{places['release']}-report").touch()
    process = start_cairn(repo)
    try:
        wait_for(places["marker"].exists, what="work to be running")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        kill_group(process.pid)
    assert process.returncode == 1, err
    summary = json.loads(out)
    assert summary["conclusion"] == "cancelled"
    jobs = {job["key"]: job for job in summary["jobs"]}
    assert jobs["work"]["conclusion"] == "cancelled"
    assert jobs["later"]["conclusion"] == "cancelled"
    assert jobs["report"]["conclusion"] == "success"  # always() still ran
    assert "Cancelling the run" in err
    assert f"cairn run --resume {summary['run_id']}" in err

    places["release"].touch()
    resumed = run_process(repo, "--resume", summary["run_id"])
    assert resumed.exit_code == 0, resumed.stderr
    assert resumed.conclusions() == {"work": "success", "later": "success", "report": "success"}
    assert counts(places["counters"]) == {"later": 1, "report": 2, "work": 2}


def test_a_second_ctrl_c_stops_at_once_and_the_run_stays_resumable(
    repo: Repo, places: dict[str, Path]
) -> None:
    repo.workflow(CANCELLABLE.format(**places))
    repo.commit()
    process = start_cairn(repo)
    try:
        wait_for(places["marker"].exists, what="work to be running")
        process.send_signal(signal.SIGINT)
        wait_for(Path(f"{places['marker']}-report").exists, what="the always() job to run")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        kill_group(process.pid)
    assert process.returncode == 130, err
    summary = json.loads(out)
    assert summary["status"] == "interrupted"
    assert "Resume it with: cairn run --resume" in err

    Path(f"{places['release']}-report").touch()
    resumed = run_process(repo, "--resume", summary["run_id"])
    # the cancellation goes on where it stopped: report runs again (a new
    # attempt), nothing else starts
    assert resumed.exit_code == 1
    assert resumed.conclusions() == {"work": "cancelled", "later": "cancelled", "report": "success"}
    assert resumed.job("report")["attempt"] == 2
    assert counts(places["counters"]) == {"report": 2, "work": 1}


def test_a_result_recorded_before_the_crash_is_not_run_again(
    repo: Repo, cairn: RunCairn, tmp_path: Path
) -> None:
    """The window between a job's end and the next checkpoint: the result
    file is there, the checkpoint still says running."""
    counter = tmp_path / "ran"
    repo.workflow(
        f"""
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      artifact: ${{{{ steps.b.outputs.artifact }}}}
    steps:
      - id: b
        run: echo run >> {counter}; echo "artifact=app.tar" >> "$GITHUB_OUTPUT"
  ship:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo "shipping ${{{{ needs.build.outputs.artifact }}}}"
"""
    )
    repo.commit()
    session = start(RunOptions(cwd=repo.path), _now())
    assert isinstance(session, Session)
    entry = session.manifest.workflows[0]
    state = session.states[entry.key]
    first = decide(entry.run, state, [], _now())
    start_job = first.actions[0]
    assert isinstance(start_job, StartJob)
    spec = start_job.spec
    started = decide(
        entry.run,
        first.state,
        [JobStarted(instance_id="build", attempt=1, token=spec.callback_token)],
        _now(),
    )
    session.run_dir.write_states({entry.key: started.state})
    result = JobResult(
        instance_id="build",
        attempt=1,
        conclusion="success",
        outputs={"artifact": "app.tar"},
        steps=(StepResult(name="Build", outcome="success", conclusion="success"),),
    )
    session.run_dir.write_result(
        ResultRecord(workflow=entry.key, name="build", log="build.log", result=result)
    )
    session.run_dir.close()

    outcome = cairn(resume=session.run_dir.run_id)
    assert outcome.exit_code == 0, outcome.stdout
    assert not counter.exists()
    assert outcome.job("build")["steps"] == [
        {"name": "Build", "outcome": "success", "conclusion": "success"}
    ]
    assert "[ship] shipping app.tar" in outcome.stdout


def _now() -> datetime:
    return datetime.now(UTC)
