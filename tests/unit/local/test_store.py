"""The run directory: atomic checkpoints, run ids, the per-run lock, results."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cairn.engine.decide import decide, initial_state
from cairn.engine.jobspec import JobResult
from cairn.engine.testing import make_run
from cairn.local.errors import RunLockedError, RunNotFoundError
from cairn.local.store import ResultRecord, RunStore, atomic_write

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
WORKFLOW = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: ["3.11", "3.12"]
    steps: [{run: make}]
  deploy:
    needs: build
    runs-on: ubuntu-latest
    steps: [{run: deploy}]
"""


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    atomic_write(target, b"new", durable=True)
    atomic_write(target, b"newer", durable=False)
    assert target.read_text() == "newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_states_round_trip_through_the_checkpoint(tmp_path: Path) -> None:
    store = RunStore(tmp_path / ".cairn")
    run_dir = store.create_run(NOW)
    run = make_run(WORKFLOW)
    started = decide(run, initial_state(run, NOW), [], NOW).state
    states = {"ci.yml": started, "other.yml": initial_state(run, NOW)}
    run_dir.write_states(states)
    loaded = run_dir.read_states()
    assert loaded is not None
    assert loaded["ci.yml"].to_dict() == started.to_dict()
    assert loaded["ci.yml"].jobs["build.1"].phase == "queued"
    assert list(loaded) == ["ci.yml", "other.yml"]


def test_run_ids_are_increasing_numbers(tmp_path: Path) -> None:
    store = RunStore(tmp_path / ".cairn")
    first = store.create_run(NOW)
    second = store.create_run(NOW)  # the same millisecond: bumped
    assert first.run_id == str(int(NOW.timestamp() * 1000))
    assert int(second.run_id) == int(first.run_id) + 1
    assert store.next_run_number() == 2
    assert store.open_run("latest").run_id == second.run_id
    assert store.open_run(first.run_id).path == first.path
    assert (tmp_path / ".cairn" / ".gitignore").read_text().endswith("*\n")
    with pytest.raises(RunNotFoundError, match="the latest: "):
        store.open_run("42")


def test_one_process_holds_a_run(tmp_path: Path) -> None:
    store = RunStore(tmp_path / ".cairn")
    run_dir = store.create_run(NOW)
    run_dir.lock()
    again = store.open_run(run_dir.run_id)
    with pytest.raises(RunLockedError, match="being executed by another cairn run process"):
        again.lock()
    assert (run_dir.path / "lock").read_text() == f"{os.getpid()}\n"
    run_dir.unlock()
    again.lock()
    again.unlock()


def test_results_are_kept_per_attempt_in_a_journal(tmp_path: Path) -> None:
    run_dir = RunStore(tmp_path / ".cairn").create_run(NOW)
    result = JobResult(instance_id="build.1", attempt=2, conclusion="success", outputs={"a": "1"})
    record = ResultRecord(workflow="ci.yml", name="build (3.12)", log="x.log", result=result)
    run_dir.write_result(record)
    assert run_dir.read_result("ci.yml", "build.1", 2) == record
    assert run_dir.read_result("ci.yml", "build.1", 1) is None
    run_dir.close()
    # a crash tore the last line: the attempts before it are still known
    with run_dir.journal_path.open("a") as journal:
        journal.write('{"workflow": "ci.yml", "name": "deploy", "log"')
    reopened = RunStore(tmp_path / ".cairn").open_run(run_dir.run_id)
    assert reopened.read_result("ci.yml", "build.1", 2) == record
    assert reopened.read_result("ci.yml", "deploy", 1) is None
