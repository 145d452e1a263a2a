"""Concurrency groups: the pure arbitration, and runs sharing groups."""

from __future__ import annotations

from datetime import timedelta

from cairn.engine import (
    AcquireConcurrency,
    Cancel,
    ConcurrencyGranted,
    ConcurrencyRegistry,
    Grant,
    Member,
    ReleaseConcurrency,
    RunLimits,
    arbitrate,
    claims_of,
)
from cairn.engine.evaluate import group_name
from cairn.engine.testing import EPOCH, EngineHarness, make_run


def member(key: str, minute: int, **kwargs: bool) -> Member:
    return Member(key=key, requested_at=EPOCH + timedelta(minutes=minute), **kwargs)


# -- arbitration as a pure function ---------------------------------------------


def test_a_lone_request_is_granted() -> None:
    assert arbitrate([member("a", 0)]) == [Grant("a")]


def test_a_request_behind_a_holder_waits() -> None:
    assert arbitrate([member("a", 0, holding=True), member("b", 1)]) == []


def test_a_newer_waiter_replaces_an_older_one() -> None:
    verdicts = arbitrate([member("a", 0, holding=True), member("b", 1), member("c", 2)])
    assert verdicts == [Cancel("b", "superseded")]


def test_cancel_in_progress_cancels_the_holder_once() -> None:
    members = [member("a", 0, holding=True), member("b", 1, cancel_in_progress=True)]
    assert arbitrate(members) == [Cancel("a", "cancel_in_progress")]
    members[0] = member("a", 0, holding=True, cancelling=True)
    assert arbitrate(members) == []


def test_the_newest_waiter_is_granted_when_the_group_frees() -> None:
    assert arbitrate([member("b", 1), member("c", 2)]) == [
        Cancel("b", "superseded"),
        Grant("c"),
    ]


def test_ties_in_time_are_broken_by_key() -> None:
    assert arbitrate([member("b", 0), member("a", 0)]) == [
        Cancel("a", "superseded"),
        Grant("b"),
    ]


def test_the_registry_applies_verdicts_so_repeats_are_quiet() -> None:
    registry: ConcurrencyRegistry[str] = ConcurrencyRegistry()
    acquire = AcquireConcurrency(key="a", group="g", cancel_in_progress=False, requested_at=EPOCH)
    assert registry.acquire("run-a", acquire) == [("run-a", ConcurrencyGranted(key="a", group="g"))]
    assert registry.acquire("run-a", acquire) == []
    assert registry.release(ReleaseConcurrency(key="a", group="g")) == []
    assert registry.release(ReleaseConcurrency(key="a", group="g")) == []
    assert registry.members("g") == []


# -- runs sharing a workflow-level group ----------------------------------------

DEPLOY = """
on: push
concurrency:
  group: deploy-${{ github.ref }}
  cancel-in-progress: ${{ github.event_name == 'push' }}
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps: [{run: deploy}]
  cleanup:
    needs: deploy
    if: always()
    runs-on: ubuntu-latest
    steps: [{run: cleanup}]
"""

QUEUED = DEPLOY.replace("${{ github.event_name == 'push' }}", "false")


def test_a_second_run_waits_for_the_first_then_runs() -> None:
    registry: ConcurrencyRegistry[EngineHarness] = ConcurrencyRegistry()
    first = EngineHarness(make_run(QUEUED, name="run-1"), registry=registry)
    second = EngineHarness(make_run(QUEUED, name="run-2"), registry=registry)
    assert first.dispatched() == ["deploy"]
    assert second.state.phase == "waiting"
    assert second.phase("deploy") == "pending"
    first.complete("deploy")
    first.complete("cleanup")
    # the first run's release granted the group to the second
    assert second.state.phase == "running"
    assert second.dispatched() == ["deploy"]
    assert [c.key for c in claims_of(second.state)] == ["run-2#1"]


def test_a_newer_waiting_run_replaces_the_older_waiting_one() -> None:
    registry: ConcurrencyRegistry[EngineHarness] = ConcurrencyRegistry()
    runs = [EngineHarness(make_run(QUEUED, name=f"run-{n}"), registry=registry) for n in (1, 2, 3)]
    first, second, third = runs
    assert second.conclusion == "cancelled"
    assert second.state.reason == "concurrency_superseded"
    assert second.started == []
    assert third.state.phase == "waiting"
    first.run_to_end()
    assert third.dispatched() == ["deploy"]


def test_cancel_in_progress_cancels_the_running_run() -> None:
    registry: ConcurrencyRegistry[EngineHarness] = ConcurrencyRegistry()
    first = EngineHarness(make_run(DEPLOY, name="run-1"), registry=registry)
    first.start("deploy")
    second = EngineHarness(make_run(DEPLOY, name="run-2"), registry=registry)
    assert first.cancelled == [("deploy", 1, "concurrency_cancel_in_progress")]
    assert second.state.phase == "waiting"
    first.complete("deploy", "cancelled")
    # cleanup is always(): it still runs in the cancelled run
    assert first.dispatched() == ["cleanup"]
    first.complete("cleanup")
    assert first.conclusion == "cancelled"
    assert second.dispatched() == ["deploy"]


def test_different_groups_do_not_wait_for_each_other() -> None:
    registry: ConcurrencyRegistry[EngineHarness] = ConcurrencyRegistry()
    main = EngineHarness(make_run(QUEUED, name="a"), registry=registry)
    branch = EngineHarness(
        make_run(QUEUED, name="b", github={"ref": "refs/heads/x"}), registry=registry
    )
    assert main.dispatched() == ["deploy"]
    assert branch.dispatched() == ["deploy"]
    assert {c.group for r in (main, branch) for c in claims_of(r.state)} == {
        "deploy-refs/heads/main",
        "deploy-refs/heads/x",
    }


def test_group_names_are_compared_without_case() -> None:
    # GitHub: "prod" and "Prod" are the same concurrency group
    registry: ConcurrencyRegistry[EngineHarness] = ConcurrencyRegistry()
    upper = QUEUED.replace("deploy-${{ github.ref }}", "Deploy-${{ github.ref }}")
    first = EngineHarness(
        make_run(upper, name="a", github={"ref": "refs/heads/MAIN"}), registry=registry
    )
    second = EngineHarness(make_run(QUEUED, name="b"), registry=registry)
    assert first.dispatched() == ["deploy"]
    assert second.state.phase == "waiting"
    assert {c.group for r in (first, second) for c in claims_of(r.state)} == {
        "deploy-refs/heads/main"
    }
    assert group_name("Déploiement-PROD") == "déploiement-prod"


def test_waiting_for_a_group_gives_up_at_its_deadline() -> None:
    registry: ConcurrencyRegistry[EngineHarness] = ConcurrencyRegistry()
    limits = RunLimits(concurrency_timeout_minutes=30)
    EngineHarness(make_run(QUEUED, name="run-1", limits=limits), registry=registry)
    second = EngineHarness(make_run(QUEUED, name="run-2", limits=limits), registry=registry)
    assert second.state.wake == EPOCH + timedelta(minutes=30)
    second.advance(minutes=30)
    assert second.conclusion == "cancelled"
    assert second.state.reason == "concurrency_timeout"
    assert registry.members("deploy-refs/heads/main")[0].key == "run-1#1"


def test_a_group_that_cannot_be_evaluated_fails_the_run() -> None:
    broken = QUEUED.replace("deploy-${{ github.ref }}", "${{ fromJSON('{') }}")
    h = EngineHarness(make_run(broken))
    assert h.conclusion == "failure"
    assert (h.state.reason or "").startswith("workflow concurrency.group: ")
    assert h.phases() == {"deploy": "skipped", "cleanup": "skipped"}


# -- job-level groups -----------------------------------------------------------

JOB_LEVEL = """
on: push
jobs:
  migrate:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        db: [primary, replica]
    concurrency:
      group: migrate-${{ matrix.db }}
    steps: [{run: migrate}]
"""


def test_job_level_groups_are_evaluated_per_instance() -> None:
    registry: ConcurrencyRegistry[EngineHarness] = ConcurrencyRegistry()
    first = EngineHarness(make_run(JOB_LEVEL, name="run-1"), registry=registry)
    second = EngineHarness(make_run(JOB_LEVEL, name="run-2"), registry=registry)
    assert first.dispatched() == ["migrate.0", "migrate.1"]
    assert second.phases() == {
        "migrate.0": "waiting:concurrency",
        "migrate.1": "waiting:concurrency",
    }
    first.complete("migrate.1")
    assert second.dispatched() == ["migrate.1"]
    assert second.job("migrate.1").claim is not None
    second.complete("migrate.1")
    assert second.job("migrate.1").claim is None
    assert registry.members("migrate-replica") == []


def test_a_waiting_job_cancelled_by_a_newer_one_ends_cancelled() -> None:
    registry: ConcurrencyRegistry[EngineHarness] = ConcurrencyRegistry()
    EngineHarness(make_run(JOB_LEVEL, name="run-1"), registry=registry)
    second = EngineHarness(make_run(JOB_LEVEL, name="run-2"), registry=registry)
    EngineHarness(make_run(JOB_LEVEL, name="run-3"), registry=registry)
    assert second.phases() == {"migrate.0": "cancelled", "migrate.1": "cancelled"}
    assert second.job("migrate.0").reason == "concurrency_superseded"


def test_a_grant_for_a_claim_the_run_no_longer_has_is_released() -> None:
    h = EngineHarness(make_run(JOB_LEVEL))
    decision = h.decide(ConcurrencyGranted(key="run-1/migrate.0@7", group="migrate-primary"))
    assert decision.actions == (
        ReleaseConcurrency(key="run-1/migrate.0@7", group="migrate-primary"),
    )
    assert h.state.absorbed.recent[-1] == "granted:unknown_claim:run-1/migrate.0@7"


def test_a_grant_for_another_runs_claim_is_not_released() -> None:
    h = EngineHarness(make_run(JOB_LEVEL, name="run-1"))
    for key in ("run-10/migrate.0@1", "run-10#1", "other#1"):
        decision = h.decide(ConcurrencyGranted(key=key, group="migrate-primary"))
        assert decision.actions == ()
        assert h.state.absorbed.recent[-1] == f"granted:unknown_claim:{key}"


def test_job_level_cancel_in_progress_stops_the_older_runs_job() -> None:
    workflow = JOB_LEVEL.replace(
        "      group: migrate-${{ matrix.db }}",
        "      group: migrate-${{ matrix.db }}\n      cancel-in-progress: true",
    )
    registry: ConcurrencyRegistry[EngineHarness] = ConcurrencyRegistry()
    first = EngineHarness(make_run(workflow, name="run-1"), registry=registry)
    first.start("migrate.0")
    second = EngineHarness(make_run(workflow, name="run-2"), registry=registry)
    assert sorted(first.cancelled) == [
        ("migrate.0", 1, "concurrency_cancel_in_progress"),
        ("migrate.1", 1, "concurrency_cancel_in_progress"),
    ]
    assert second.phases()["migrate.0"] == "waiting:concurrency"
    first.complete("migrate.0", "cancelled")
    assert second.dispatched() == ["migrate.0"]
    assert first.job("migrate.0").reason == "concurrency_cancel_in_progress"
