"""Properties that hold for any workflow, any order of events, any crash.

Random DAGs (with static and dynamic matrices, status-function ifs,
continue-on-error, fail-fast, max-parallel, concurrency groups) are driven by a
random script of steps: sandboxes start, finish or vanish in any order with any
result, time jumps past deadlines, old events are delivered again, strangers
send forged or unknown events, jobs are cancelled and retried, finished runs
re-run. The same script runs twice, once with crashes (checkpoint serialised to
JSON, everything else dropped), and:

- no attempt of an instance is started twice, and none in a run not running;
- an instance leaves ``waiting:needs`` (starts, is skipped, ...) only when every
  instance of every job it needs has ended and no ancestor is running again
  after a retry (only a cancellation may end it sooner);
- an ended attempt stays ended, unchanged, unless a retry or re-run is what
  changed it; a concluded run stays concluded unless re-run, and each run
  attempt concludes once;
- delivering the same events again at once changes nothing and does nothing;
- the counts and the derived index always agree with the job table;
- every run ends, and ends with every instance concluded;
- the run with crashes ends in exactly the state of the run without, having
  emitted exactly the same actions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.engine import (
    ApprovalGranted,
    CancelRequested,
    CompleteWorkflow,
    ConcurrencyCancelled,
    ConcurrencyGranted,
    DeadlinePassed,
    Decision,
    Event,
    JobCompleted,
    JobLost,
    JobResult,
    JobStarted,
    JobState,
    ReleaseConcurrency,
    RerunRequested,
    RetryRequested,
    StartJob,
    WorkflowState,
    callback_token,
    decide,
)
from cairn.engine.index import Index, job_of
from cairn.engine.testing import TEST_SEED, EngineHarness, ResultConclusion, make_run

IFS = [None, "always()", "failure()", "${{ !cancelled() }}", "success() || failure()"]


@st.composite
def workflows(draw: st.DrawFn) -> str:
    count = draw(st.integers(2, 6))
    lines = ["on: push", "jobs:"]
    for n in range(count):
        job = f"j{n}"
        # chains (a job needing the one before it) half the time: retries and
        # status functions are subtle over several generations
        chain = st.just([n - 1])
        fan = st.lists(st.integers(0, n - 1), max_size=2)
        needs = sorted(set(draw(st.one_of(chain, fan)))) if n else []
        lines += [f"  {job}:", "    runs-on: ubuntu-latest"]
        lines += ["    outputs:", "      list: ${{ steps.s.outputs.list }}"]
        if needs:
            lines.append(f"    needs: [{', '.join(f'j{i}' for i in needs)}]")
        condition = draw(st.sampled_from(IFS))
        if condition is not None:
            lines.append(f"    if: {condition}")
        lines.append(f"    timeout-minutes: {draw(st.sampled_from([1, 2.5, 10]))}")
        matrix = draw(st.sampled_from(["none", "none", "static", "dynamic"]))
        if matrix == "dynamic" and not needs:
            matrix = "static"
        if matrix != "none":
            if draw(st.booleans()):
                lines.append("    continue-on-error: ${{ matrix.x == 1 }}")
            lines += ["    strategy:", f"      fail-fast: {str(draw(st.booleans())).lower()}"]
            parallel = draw(st.sampled_from([None, 1, 2]))
            if parallel is not None:
                lines.append(f"      max-parallel: {parallel}")
            lines.append("      matrix:")
            if matrix == "static":
                values = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3, unique=True))
                lines.append(f"        x: {values}")
            else:
                lines.append(f"        x: ${{{{ fromJSON(needs.j{needs[0]}.outputs.list) }}}}")
        elif draw(st.booleans()):
            lines.append(f"    continue-on-error: {str(draw(st.booleans())).lower()}")
        if draw(st.integers(0, 5)) == 0:
            lines += ["    concurrency:", "      group: lock-${{ github.ref }}"]
        lines += ["    steps:", "      - id: s", "        run: make"]
    return "\n".join(lines) + "\n"


Step = tuple[int, int, int]
#: step kinds, weighted: complete, start, advance, replay, retry, cancel,
#: re-run, sandbox lost, a stranger's event
KINDS = [0, 0, 0, 0, 2, 2, 3, 3, 4, 5, 5, 5, 6, 7, 8, 9]
steps_strategy = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 50), st.integers(0, 50)), max_size=50
)


@dataclass
class Checker:
    """Invariants checked on every decision of a run."""

    started: set[tuple[str, int]] = field(default_factory=set)
    #: every ended attempt as it ended, whole
    ended: dict[tuple[str, int], JobState] = field(default_factory=dict)
    previous: dict[str, JobState] | None = None
    #: run attempt -> the conclusion announced by its CompleteWorkflow
    concluded: dict[int, str] = field(default_factory=dict)

    def check(self, decision: Decision, events: tuple[Event, ...]) -> None:
        state = decision.state
        self.check_needs_settle_first(decision, self.previous or {})
        if self.previous is not None:
            differ = {
                i
                for i in set(self.previous) | set(state.jobs)
                if self.previous.get(i) != state.jobs.get(i)
            }
            assert differ <= decision.changed, f"unreported changes: {differ - decision.changed}"
        self.previous = dict(state.jobs)
        for action in decision.actions:
            if isinstance(action, StartJob):
                self.check_start(action, state)
        self.check_ended_attempts_stay_ended(state, events)
        self.check_the_run_ends_once(decision, events)
        check_counts_and_index(state)

    def check_start(self, action: StartJob, state: WorkflowState) -> None:
        spec = action.spec
        key = (spec.instance_id, spec.attempt)
        assert key not in self.started, f"{key} started twice"
        self.started.add(key)
        assert state.phase == "running", f"{key} started in a {state.phase} run"
        assert_needs_settled(spec.instance_id, state, f"{key} started")

    def check_needs_settle_first(self, decision: Decision, before: dict[str, JobState]) -> None:
        """An instance leaves ``waiting:needs`` (is skipped, fails its ``if``,
        waits for a slot, starts...) only once its needs settled; only a
        cancellation or a broken workflow may end it earlier."""
        state = decision.state
        for instance_id in decision.changed:
            new = state.jobs.get(instance_id)
            old = before.get(instance_id)
            if new is None or _on_needs(new) or (old is not None and not _on_needs(old)):
                continue
            if new.conclusion == "cancelled" or new.reason == "workflow_error":
                continue
            assert_needs_settled(instance_id, state, f"{instance_id} went {new.phase}")

    def check_ended_attempts_stay_ended(
        self, state: WorkflowState, events: tuple[Event, ...]
    ) -> None:
        reset_allowed = any(isinstance(e, RetryRequested | RerunRequested) for e in events)
        for (instance_id, attempt), ended in list(self.ended.items()):
            now = state.jobs.get(instance_id)
            if now != ended:
                assert reset_allowed, f"{instance_id}@{attempt} left {ended}: now {now}"
                assert now is None or now.attempt >= attempt
                del self.ended[(instance_id, attempt)]
        for instance_id, job in state.jobs.items():
            if job.completed:
                assert job.conclusion is not None
                self.ended.setdefault((instance_id, job.attempt), job)

    def check_the_run_ends_once(self, decision: Decision, events: tuple[Event, ...]) -> None:
        state = decision.state
        completions = [a for a in decision.actions if isinstance(a, CompleteWorkflow)]
        assert len(completions) <= 1
        if completions:
            assert state.run_attempt not in self.concluded, "a run attempt concluded twice"
            assert state.phase == "completed"
            assert all(job.completed for job in state.jobs.values())
            self.concluded[state.run_attempt] = completions[0].conclusion
        previous = max(self.concluded, default=None)
        if previous is not None and state.run_attempt == previous:
            # a concluded run stays concluded, unless a re-run started the next attempt
            assert state.phase == "completed", f"the run left {self.concluded[previous]}"
            assert state.conclusion == self.concluded[previous]
        elif previous is not None:
            assert state.run_attempt == previous + 1


def _on_needs(job: JobState) -> bool:
    return job.phase == "pending" or (job.phase == "waiting" and job.waiting_on == "needs")


def assert_needs_settled(instance_id: str, state: WorkflowState, what: str) -> None:
    graph = state._index.graph
    job_id = job_of(instance_id)
    needs = graph.jobs[job_id].needs
    for other_id, other in state.jobs.items():
        other_job = job_of(other_id)
        if other_job in needs:
            assert other.completed, f"{what} before its need {other_id} ended"
        if graph.is_descendant(job_id, other_job) and other.attempt > 1:
            # an ancestor running again holds back everything below it
            assert other.completed, f"{what} while its ancestor {other_id} runs again"


def check_counts_and_index(state: WorkflowState) -> None:
    expected: Counter[str] = Counter()
    for job in state.jobs.values():
        expected[job.phase] += 1
        if job.conclusion is not None:
            expected[job.conclusion] += 1
    assert state.counts == dict(expected)
    live = state._index
    fresh = Index(live.graph, WorkflowState.from_json(state.to_json()))
    assert {k: v for k, v in live.open.items() if v} == {k: v for k, v in fresh.open.items() if v}
    assert {k: v for k, v in live.admitted.items() if v} == {
        k: v for k, v in fresh.admitted.items() if v
    }
    assert live.output_bytes == fresh.output_bytes
    assert live.step_bytes == fresh.step_bytes
    assert live.matrix_bytes == fresh.matrix_bytes
    assert live.earliest(state.jobs) == fresh.earliest(state.jobs)
    for job_id in live.instances:
        parked = [
            i
            for i in live.instances[job_id]
            if state.jobs[i].phase == "waiting" and state.jobs[i].waiting_on == "max-parallel"
        ]
        everyone = len(live.instances[job_id])
        assert live.first_parked(job_id, state.jobs, everyone) == parked
        assert fresh.first_parked(job_id, state.jobs, everyone) == parked


class Driver:
    """Interprets a script of abstract steps against one harness."""

    def __init__(self, workflow: str, checker: Checker | None) -> None:
        observer = checker.check if checker is not None else None
        self.h = EngineHarness(make_run(workflow), observer=observer)
        self.check_replays = checker is not None
        self.history: list[Event] = []
        self.last: Decision | None = None

    def deliver(self, *events: Event) -> None:
        self.last = self.h.decide(*events)
        self.history.extend(events)
        if self.check_replays:
            # the same events again, at once: nothing changes, nothing is done
            again = decide(
                self.h.run, self.h.state.from_json(self.h.state.to_json()), events, self.h.now
            )
            # (a grant for a claim the run does not have is answered with a
            # release every time: the arbiter may have granted it again)
            done = [
                a
                for a in again.actions
                if not (
                    isinstance(a, ReleaseConcurrency)
                    and any(isinstance(e, ConcurrencyGranted) and e.key == a.key for e in events)
                )
            ]
            assert done == [], f"replaying {events} did {again.actions}"
            assert again.changed == frozenset()
            assert again.state.without_audit() == self.h.state.without_audit()

    def step(self, kind: int, a: int, b: int) -> None:
        h = self.h
        live = h.dispatched()
        running = h.state.phase == "running"
        completed = sorted(i for i, j in h.state.jobs.items() if j.completed)
        if kind in (0, 1) and live:
            instance_id = live[a % len(live)]
            spec = h.live.pop(instance_id)
            conclusion: ResultConclusion = ("success", "failure", "cancelled", "success")[b % 4]
            outputs = {"list": "[1, 2]"} if b % 3 else {}
            self.deliver(EngineHarness.result_event(spec, conclusion, outputs))
        elif kind == 2 and live:
            spec = h.live[live[a % len(live)]]
            self.deliver(
                JobStarted(
                    instance_id=spec.instance_id, attempt=spec.attempt, token=spec.callback_token
                )
            )
        elif kind == 3:
            # minutes to hours: past run timeouts, sometimes past queue timeouts
            self.advance(minutes=(0.5, 1, 3, 11, 1500)[a % 5])
        elif kind == 4 and self.history:
            self.deliver(self.history[a % len(self.history)])
        elif kind == 5 and running and completed:
            instance_id = completed[a % len(completed)]
            attempt = h.state.jobs[instance_id].attempt
            self.deliver(RetryRequested(instance_id=instance_id, attempt=attempt))
        elif kind == 6 and b % 4 == 0:
            target = None if a % 2 else sorted(h.state.jobs)[a % len(h.state.jobs)]
            self.deliver(CancelRequested(instance_id=target))
        elif kind == 7 and h.state.phase == "completed":
            self.deliver(RerunRequested(run_attempt=h.state.run_attempt, failed_only=a % 2 == 0))
        elif kind == 8 and live:
            spec = h.live.pop(live[a % len(live)])
            self.deliver(
                JobLost(
                    instance_id=spec.instance_id, attempt=spec.attempt, token=spec.callback_token
                )
            )
        elif kind == 9:
            self.deliver(self.strangers_event(a, b))
        else:
            self.advance(minutes=0.25)

    def strangers_event(self, a: int, b: int) -> Event:
        """An event nobody should have sent: a forged token, an unknown job, a
        verdict about a claim that does not exist, an approval nobody asked for."""
        ids = sorted(self.h.state.jobs)
        target = ids[a % len(ids)]
        attempt = self.h.state.jobs[target].attempt
        forged = "F" * 22
        result = JobResult(instance_id=target, attempt=attempt, conclusion="failure")
        events: list[Event] = [
            JobCompleted(token=forged, result=result),
            JobStarted(instance_id=target, attempt=attempt, token=forged),
            JobStarted(instance_id="ghost", attempt=1, token=callback_token(TEST_SEED, "ghost", 1)),
            ConcurrencyGranted(key=f"run-1/{target}@{attempt + 5}", group="lock-refs/heads/main"),
            ConcurrencyCancelled(key="elsewhere#1", reason="superseded"),
            ApprovalGranted(instance_id=target),
            CancelRequested(instance_id="ghost"),
            CancelRequested(instance_id=target, attempt=attempt + 3),
            CancelRequested(attempt=self.h.state.run_attempt + 1),
        ]
        return events[b % len(events)]

    def advance(self, *, minutes: float) -> None:
        self.h.now += timedelta(minutes=minutes)
        self.deliver(DeadlinePassed())

    def finish(self) -> WorkflowState:
        """Drive to the end: sandboxes succeed in id order; idle time jumps to the wake."""
        h = self.h
        for _ in range(5000):
            if h.state.phase == "completed":
                assert all(j.completed for j in h.state.jobs.values())
                assert h.state.wake is None
                return h.state
            if h.dispatched():
                instance_id = h.dispatched()[0]
                spec = h.live.pop(instance_id)
                self.deliver(EngineHarness.result_event(spec, "success", {"list": "[1]"}))
            else:
                assert h.state.wake is not None, "a run with nothing running has no wake"
                h.now = max(h.now, h.state.wake)
                self.deliver(DeadlinePassed())
        raise AssertionError("the run did not end")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflow=workflows(), script=steps_strategy, crashes=st.sets(st.integers(0, 50)))
def test_any_script_keeps_the_invariants_and_crashes_change_nothing(
    workflow: str, script: list[Step], crashes: set[int]
) -> None:
    clean = Driver(workflow, Checker())
    crashing = Driver(workflow, None)
    for index, step in enumerate(script):
        clean.step(*step)
        if index in crashes:
            crashing.h.crash()
        crashing.step(*step)
    crashing.h.crash()
    final = clean.finish()
    assert crashing.finish() == final
    # then "re-run failed jobs" (absorbed when nothing failed), with a crash
    for driver in (clean, crashing):
        driver.deliver(RerunRequested(run_attempt=final.run_attempt))
    crashing.h.crash()
    assert crashing.finish() == clean.finish()
    # not only the same end: the same side effects on the way
    assert crashing.h.actions == clean.h.actions


#: completions, starts and retries only: runs where jobs are retried while
#: what is below them is still running, where waiting on needs is subtle
retry_steps = st.lists(
    st.tuples(st.sampled_from([0, 0, 2, 5, 5]), st.integers(0, 50), st.integers(0, 50)),
    min_size=8,
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflow=workflows(), script=retry_steps)
def test_retries_while_descendants_run_keep_the_invariants(
    workflow: str, script: list[Step]
) -> None:
    driver = Driver(workflow, Checker())
    for step in script:
        driver.step(*step)
    driver.finish()


@settings(max_examples=40, deadline=None)
@given(workflow=workflows(), script=steps_strategy)
def test_a_decision_lost_before_its_checkpoint_is_simply_made_again(
    workflow: str, script: list[Step]
) -> None:
    """An adapter that crashes after deciding but before writing the checkpoint
    decides again from the old checkpoint: the second decision is identical."""
    driver = Driver(workflow, None)
    for step in script:
        before = WorkflowState.from_json(driver.h.state.to_json())
        count = len(driver.history)
        now_before = driver.h.now
        driver.step(*step)
        events = driver.history[count:]
        if not events:
            continue
        redo = decide(driver.h.run, before, events, driver.h.now)
        assert driver.h.now >= now_before
        assert driver.last is not None
        assert redo.state == driver.last.state
        assert redo.actions == driver.last.actions
