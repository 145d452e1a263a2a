"""Two replicas of the operator with Kopf peering, as the Deployment runs them.

Each replica is a real ``cairn operator`` process (``OperatorReplica``) logged
in as its own emulator user, so the request log says which replica made each
request. The tests show that only the replica with the highest priority acts,
that the other takes over a run in the middle when the first is killed (its
peering record lapses), and that a priority tie pauses both. Two more follow
a rollout's order (a working replica paused by a new one with a higher
priority), each failing with its own exception if the replica misbehaves: the
paused replica's old timers must not act (``PausedReplicaWrote``), and once
resumed it must not hold the concurrency groups it knew before its pause
(``GroupStillTaken``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cairn.k8s.resources import LABEL_RUN
from tests.integration.kubelet import TestKubelet
from tests.integration.operator_harness import (
    CIRUNS,
    CIWORKFLOWS,
    NAMESPACE,
    TEST_PEERING_LIFETIME,
    OperatorReplica,
    cirun,
    conclusions,
    install_crds,
    install_peering,
    job_phase,
    jobs_state,
    peers,
    wait_run,
    workflow_of,
)
from tests.kubeapi import KubeApiEmulator, WaitTimeout

WRITES = ("create", "update", "patch", "delete", "deletecollection")
#: everything Cairn reads or writes; Kopf's peering objects are the one thing both replicas touch
CAIRN_RESOURCES = (CIRUNS, CIWORKFLOWS, "jobs.batch", "pods", "configmaps", "secrets", "events")
WATCHED = (CIRUNS, CIWORKFLOWS, "jobs.batch", "pods")


def workflow(ledger: Path, gate: Path) -> str:
    """A build, a two-shard matrix, a job held at a gate (a FIFO the test opens), a deploy.
    Every job appends its name to the ledger once per execution."""
    return f"""
name: Pipeline
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo build >> {ledger}
  test:
    needs: build
    runs-on: ubuntu-latest
    strategy:
      matrix:
        shard: [1, 2]
    steps:
      - run: echo "test-${{{{ matrix.shard }}}}" >> {ledger}
  gate:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo gate >> {ledger}
          read -r released < {gate}
  deploy:
    needs: gate
    runs-on: ubuntu-latest
    steps:
      - run: echo deploy >> {ledger}
"""


EXPECTED = {
    "build": "success",
    "test.0": "success",
    "test.1": "success",
    "gate": "success",
    "deploy": "success",
}


def writes_by(api: KubeApiEmulator, user: str | None) -> int:
    """Writes of ``user`` (None: of anyone) to anything Cairn handles (peering excluded)."""
    return sum(
        api.request_count(verb, resource, user=user)
        for verb in WRITES
        for resource in CAIRN_RESOURCES
    )


def reads_by(api: KubeApiEmulator, user: str) -> int:
    """Lists and watches of ``user`` on what the operator handles: a paused replica has none."""
    return sum(
        api.request_count(verb, resource, user=user)
        for verb in ("list", "watch")
        for resource in WATCHED
    )


def wait_active(api: KubeApiEmulator, replica: OperatorReplica, timeout: float = 30.0) -> None:
    """Until ``replica`` watches everything the operator handles (it works, not paused)."""
    for resource in WATCHED:
        api.wait_for_watches(resource, user=replica.user, timeout=timeout)


def wait_for_peer(
    api: KubeApiEmulator, resource: str, namespace: str | None, replica: OperatorReplica
) -> dict[str, Any]:
    """Until ``replica`` announced itself in the peering object (so its startup is done)."""
    found = api.wait_for(
        resource,
        "cairn",
        namespace,
        predicate=lambda o: o is not None and replica.user in (o.get("status") or {}),
        timeout=30,
    )
    assert found is not None
    record: dict[str, Any] = found["status"][replica.user]
    return record


def wait_renewals(
    api: KubeApiEmulator,
    resource: str,
    namespace: str | None,
    replicas: list[OperatorReplica],
    rounds: int,
) -> None:
    """Until every replica renewed its peering record ``rounds`` times from now: each
    renewal follows a look at the peering object, so each replica has had that many
    chances to (wrongly) decide it may work."""
    start = {r.user: peers(api, resource, namespace)[r.user]["lastseen"] for r in replicas}
    seen: dict[str, set[str]] = {r.user: {start[r.user]} for r in replicas}

    def renewed(obj: dict[str, Any] | None) -> bool:
        for user, record in ((obj or {}).get("status") or {}).items():
            if user in seen and record:
                seen[user].add(record["lastseen"])
        return all(len(stamps) > rounds for stamps in seen.values())

    api.wait_for(resource, "cairn", namespace, predicate=renewed, timeout=10 * rounds)


def release(gate: Path, timeout: float = 30.0) -> None:
    """Let the gated step go: open the FIFO (it waits for the step's reader) and write."""
    opened = threading.Event()

    def write() -> None:
        with gate.open("w") as fifo:
            opened.set()
            fifo.write("go\n")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(timeout)
    assert opened.is_set(), "the gated step never opened its FIFO"


@pytest.fixture
def replicas(kubeapi: KubeApiEmulator, tmp_path: Path) -> Iterator[list[OperatorReplica]]:
    """Replicas the test starts; all are stopped at the end, their logs shown on failure."""
    started: list[OperatorReplica] = []
    yield started
    for replica in started:
        replica.stop()
    for replica in started:
        print(f"----- {replica.user} (priority {replica.priority}) -----\n{replica.log()[-6000:]}")


def test_only_the_highest_priority_replica_acts_and_the_other_takes_over_when_it_dies(
    kubeapi: KubeApiEmulator, tmp_path: Path, replicas: list[OperatorReplica]
) -> None:
    install_crds(kubeapi)
    peering, scope = install_peering(kubeapi)  # cluster-wide: a ClusterKopfPeering
    ledger, gate = tmp_path / "ledger", tmp_path / "gate"
    os.mkfifo(gate)
    active = OperatorReplica(kubeapi, "replica-a", 200, tmp_path)
    standby = OperatorReplica(kubeapi, "replica-b", 100, tmp_path)
    replicas += [active, standby]
    with TestKubelet(kubeapi, mode="inprocess") as kubelet:
        active.start()
        wait_active(kubeapi, active)
        standby.start()
        record = wait_for_peer(kubeapi, peering, scope, standby)
        assert (record["priority"], record["lifetime"]) == (100, TEST_PEERING_LIFETIME)

        kubeapi.create(CIRUNS, cirun("ha", {"pipeline.yml": workflow(ledger, gate)}), NAMESPACE)
        kubeapi.wait_until(
            CIWORKFLOWS,
            lambda items: any(job_phase(w, "gate") == "running" for w in items),
            NAMESPACE,
            label_selector=f"{LABEL_RUN}=ha",
            timeout=60,
        )
        # Mid-run, everything so far is the active replica's work; the standby has not
        # even listed or watched what the operator handles.
        assert writes_by(kubeapi, standby.user) == 0
        assert reads_by(kubeapi, standby.user) == 0
        assert kubeapi.request_count("create", "jobs", status=201, user=active.user) == 4

        active.kill()  # no goodbye: its peering record stays until its lifetime lapses
        killed_at = time.time()
        dead = peers(kubeapi, peering, scope)[active.user]
        lapses_at = datetime.fromisoformat(dead["lastseen"]).timestamp() + dead["lifetime"]
        release(gate)  # the gated job finishes while no replica is working
        wait_active(kubeapi, standby, timeout=TEST_PEERING_LIFETIME + 30)
        run = wait_run(kubeapi, "ha", timeout=60)

    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert conclusions(workflow_of(kubeapi, "ha")) == EXPECTED
    # The standby started working only once the dead replica's record had lapsed,
    # and removed that record.
    log = kubeapi.recent_requests()
    assert log[0].at < killed_at, "the request log no longer reaches back to the kill"
    took_over_at = min(
        r.at
        for r in log
        if r.user == standby.user and r.verb in ("list", "watch") and r.resource == "ciworkflows"
    )
    assert took_over_at >= lapses_at > killed_at, (took_over_at, lapses_at, killed_at)
    assert list(peers(kubeapi, peering, scope)) == [standby.user]
    # One Job per job instance, each run once: the dead replica made four, the standby one.
    jobs = kubeapi.list("jobs.batch", NAMESPACE)
    assert len(jobs) == len(EXPECTED), [j["metadata"]["name"] for j in jobs]
    assert {j["metadata"]["labels"]["cairn.dev/attempt"] for j in jobs} == {"1"}
    assert kubeapi.request_count("create", "jobs", status=201, user=active.user) == 4
    assert kubeapi.request_count("create", "jobs", status=201, user=standby.user) == 1
    assert len(kubelet.jobs_seen) == len(set(kubelet.jobs_seen)) == len(EXPECTED)
    assert sorted(ledger.read_text().split()) == sorted(
        ["build", "test-1", "test-2", "gate", "deploy"]
    )
    # The run's status and checkpoints were finished by the standby.
    assert kubeapi.request_count("patch", CIRUNS, subresource="status", user=standby.user) > 0
    assert kubeapi.request_count("patch", CIWORKFLOWS, subresource="status", user=standby.user) > 0
    # Every write came from one of the two replicas, none from anyone else.
    assert writes_by(kubeapi, None) == writes_by(kubeapi, active.user) + writes_by(
        kubeapi, standby.user
    )


HELLO = """
on: push
jobs:
  hello:
    runs-on: ubuntu-latest
    steps:
      - run: echo hello
"""


def test_a_priority_tie_pauses_both_replicas_until_one_leaves(
    kubeapi: KubeApiEmulator, tmp_path: Path, replicas: list[OperatorReplica]
) -> None:
    install_crds(kubeapi)
    peering, scope = install_peering(kubeapi, namespace=NAMESPACE)  # a KopfPeering
    first = OperatorReplica(kubeapi, "replica-x", 100, tmp_path, namespaces=[NAMESPACE])
    second = OperatorReplica(kubeapi, "replica-y", 100, tmp_path, namespaces=[NAMESPACE])
    replicas += [first, second]
    with TestKubelet(kubeapi, mode="inprocess"):
        first.start()
        wait_active(kubeapi, first)  # alone, it works
        second.start()
        wait_for_peer(kubeapi, peering, scope, second)
        for resource in WATCHED:  # the tie: the first stops working too
            kubeapi.wait_for_watches(resource, 0, exactly=True, user=first.user, timeout=30)
        kubeapi.create(CIRUNS, cirun("tie", {"hello.yml": HELLO}), NAMESPACE)
        wait_renewals(kubeapi, peering, scope, [first, second], rounds=2)
        # Both looked at the peering object twice since, and neither touched the run.
        assert "status" not in kubeapi.get(CIRUNS, "tie", NAMESPACE)
        assert kubeapi.list(CIWORKFLOWS, NAMESPACE) == []
        assert writes_by(kubeapi, None) == 0
        assert reads_by(kubeapi, second.user) == 0
        assert all("same priority" in replica.log() for replica in (first, second))

        second.stop()  # a clean shutdown removes its record: the first resumes at once
        run = wait_run(kubeapi, "tie", timeout=60)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert list(peers(kubeapi, peering, scope)) == [first.user]
    assert writes_by(kubeapi, second.user) == 0
    assert writes_by(kubeapi, first.user) > 0
    assert kubeapi.request_count("create", "jobs", status=201, user=first.user) == 1


def in_group(gate: Path | None) -> str:
    """A workflow in the concurrency group ``deploy``; its one job waits at ``gate``, if any."""
    step = f"read -r released < {gate}" if gate else "echo deployed"
    return f"""
on: push
concurrency:
  group: deploy
  cancel-in-progress: false
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: {step}
"""


class GroupStillTaken(AssertionError):
    """A run waits for a concurrency group that no run holds."""


def test_a_replica_paused_by_a_higher_priority_one_resumes_with_current_groups(
    kubeapi: KubeApiEmulator, tmp_path: Path, replicas: list[OperatorReplica]
) -> None:
    """A rollout's order of events: the working replica pauses when a replica with a
    higher priority appears, and works again when that one dies."""
    install_crds(kubeapi)
    install_peering(kubeapi)
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    old = OperatorReplica(kubeapi, "replica-old", 100, tmp_path)
    new = OperatorReplica(kubeapi, "replica-new", 200, tmp_path)
    replicas += [old, new]
    with TestKubelet(kubeapi, mode="inprocess"):
        old.start()
        wait_active(kubeapi, old)
        kubeapi.create(CIRUNS, cirun("first", {"deploy.yml": in_group(gate)}), NAMESPACE)
        kubeapi.wait_until(
            CIWORKFLOWS,
            lambda items: any(job_phase(w, "deploy") == "running" for w in items),
            NAMESPACE,
            label_selector=f"{LABEL_RUN}=first",
            timeout=60,
        )
        kubeapi.create(CIRUNS, cirun("second", {"deploy.yml": in_group(None)}), NAMESPACE)
        kubeapi.wait_until(  # "second" waits for the group "first" holds
            CIWORKFLOWS,
            lambda items: any((w.get("status") or {}).get("phase") == "Pending" for w in items),
            NAMESPACE,
            label_selector=f"{LABEL_RUN}=second",
            timeout=30,
        )

        new.start()
        wait_active(kubeapi, new)
        for resource in WATCHED:
            kubeapi.wait_for_watches(resource, 0, exactly=True, user=old.user, timeout=30)
        paused_writes = writes_by(kubeapi, old.user)
        release(gate)
        assert wait_run(kubeapi, "first")["status"]["phase"] == "Succeeded"
        assert wait_run(kubeapi, "second")["status"]["phase"] == "Succeeded"
        assert writes_by(kubeapi, old.user) == paused_writes  # paused: not a single write
        # The finished Jobs go, as the TTL-after-finished controller removes them: the
        # resumed replica then learns of the two runs from their checkpoints alone.
        for job in kubeapi.list("jobs.batch", NAMESPACE):
            kubeapi.delete(
                "jobs.batch", job["metadata"]["name"], NAMESPACE, propagation="Background"
            )
        kubeapi.wait_until("pods", lambda pods: not pods, NAMESPACE, timeout=30)

        new.kill()
        wait_active(kubeapi, old, timeout=TEST_PEERING_LIFETIME + 30)
        kubeapi.create(CIRUNS, cirun("third", {"deploy.yml": in_group(None)}), NAMESPACE)
        # Nothing holds the group: a replica that knows it runs "third" in a second or two.
        try:
            run = wait_run(kubeapi, "third", timeout=6)
        except WaitTimeout as stuck:
            raise GroupStillTaken(str(stuck)) from None
    assert run["status"]["phase"] == "Succeeded", run["status"]


HANGING = """
on: push
jobs:
  hangs:
    runs-on: ubuntu-latest
    timeout-minutes: 0.1
    steps:
      - run: echo the test kubelet never reports this pod
"""


class PausedReplicaWrote(AssertionError):
    """A paused replica wrote to what the active one handles."""


def test_a_paused_replica_does_not_act_on_its_old_timers(
    kubeapi: KubeApiEmulator, tmp_path: Path, replicas: list[OperatorReplica]
) -> None:
    install_crds(kubeapi)
    peering, scope = install_peering(kubeapi)
    old = OperatorReplica(kubeapi, "replica-old", 100, tmp_path)
    new = OperatorReplica(kubeapi, "replica-new", 200, tmp_path)
    replicas += [old, new]
    with TestKubelet(kubeapi, mode="inprocess") as kubelet:
        kubelet.hang.add("hangs")
        old.start()
        wait_active(kubeapi, old)
        kubeapi.create(CIRUNS, cirun("late", {"hangs.yml": HANGING}), NAMESPACE)
        kubeapi.wait_until(  # the old replica armed the job's 6 s deadline
            CIWORKFLOWS,
            lambda items: any(job_phase(w, "hangs") == "running" for w in items),
            NAMESPACE,
            label_selector=f"{LABEL_RUN}=late",
            timeout=60,
        )
        new.start()
        wait_active(kubeapi, new)
        for resource in WATCHED:
            kubeapi.wait_for_watches(resource, 0, exactly=True, user=old.user, timeout=30)
        paused_writes = writes_by(kubeapi, old.user)
        deadline = jobs_state(workflow_of(kubeapi, "late"))["hangs"]["d"]
        assert datetime.now(UTC) < datetime.fromisoformat(deadline), (
            "inconclusive: the job's deadline passed before the old replica was paused"
        )
        run = wait_run(kubeapi, "late", timeout=60)  # the deadline passed: the job timed out
        # Both replicas' timers were due at that deadline; seconds later, all is said.
        wait_renewals(kubeapi, peering, scope, [old, new], rounds=3)
    assert run["status"]["phase"] == "Failed", run["status"]
    assert job_phase(workflow_of(kubeapi, "late"), "hangs") == "failure"
    if writes_by(kubeapi, old.user) != paused_writes:
        raise PausedReplicaWrote(
            f"{writes_by(kubeapi, old.user) - paused_writes} write(s) by the paused replica"
        )
