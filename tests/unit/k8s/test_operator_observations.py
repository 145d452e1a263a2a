"""Turning Pods, Jobs and annotations into reports and requests."""

from __future__ import annotations

from typing import Any

from cairn.engine import JobResult
from cairn.k8s import tokens
from cairn.k8s.callbacks import ProgressReport
from cairn.k8s.observations import (
    has_requests,
    read_requests,
    report_from_job,
    report_from_pod,
    sandbox_identity,
)
from cairn.runner import encode_termination_message

LABELS = {
    "app.kubernetes.io/managed-by": "cairn",
    "cairn.dev/workflow": "run-ci-abcdefgh",
    "cairn.dev/attempt": "2",
}
META = {
    "name": "run-ci-build-3-2-xyz",
    "namespace": "ci",
    "labels": LABELS,
    "annotations": {"cairn.dev/instance-id": "build.3"},
}


def pod(state: dict[str, Any] | None, phase: str = "Running", **status: Any) -> dict[str, Any]:
    statuses = [] if state is None else [{"name": "runner", "state": state}]
    return {"metadata": META, "status": {"phase": phase, "containerStatuses": statuses, **status}}


def result(**fields: Any) -> JobResult:
    values: dict[str, Any] = {"instance_id": "build.3", "attempt": 2, "conclusion": "success"}
    values.update(fields)
    return JobResult(**values)


def test_the_identity_of_a_sandbox_comes_from_its_labels_and_annotation() -> None:
    who = sandbox_identity({"metadata": META})
    assert who is not None
    assert (who.namespace, who.workflow, who.instance_id, who.attempt) == (
        "ci",
        "run-ci-abcdefgh",
        "build.3",
        2,
    )
    foreign = {"metadata": {**META, "labels": {**LABELS, "app.kubernetes.io/managed-by": "x"}}}
    assert sandbox_identity(foreign) is None
    bad_attempt = {"metadata": {**META, "labels": {**LABELS, "cairn.dev/attempt": "two"}}}
    assert sandbox_identity(bad_attempt) is None


def test_a_running_pod_is_a_start_report_with_its_start_time() -> None:
    report = report_from_pod(pod({"running": {"startedAt": "2026-01-01T12:00:03Z"}}))
    assert report is not None and report.kind == "started"
    assert report.at is not None and report.at.second == 3
    assert report_from_pod(pod({"waiting": {"reason": "ContainerCreating"}}, "Pending")) is None


def test_a_terminated_runner_reports_its_termination_message() -> None:
    message = encode_termination_message(result(outputs={"v": "1"}))
    report = report_from_pod(pod({"terminated": {"exitCode": 0, "message": message}}, "Succeeded"))
    assert report is not None and report.kind == "result"
    assert report.result == result(outputs={"v": "1"})


def test_a_runner_that_ended_without_a_message_is_a_finished_report() -> None:
    report = report_from_pod(
        pod({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}, "Failed")
    )
    assert report is not None and report.kind == "finished"
    assert "OOMKilled" in report.detail and "137" in report.detail


def test_a_result_for_another_attempt_or_garbage_is_not_taken() -> None:
    other = encode_termination_message(result(attempt=1))
    report = report_from_pod(pod({"terminated": {"exitCode": 0, "message": other}}, "Succeeded"))
    assert report is not None and report.kind == "finished"
    assert "attempt 1" in report.detail
    garbage = report_from_pod(pod({"terminated": {"exitCode": 1, "message": "panic!"}}, "Failed"))
    assert garbage is not None and garbage.kind == "finished"


def test_an_evicted_pod_is_finished_without_result() -> None:
    report = report_from_pod(pod(None, "Failed", reason="Evicted", message="low on memory"))
    assert report is not None and report.kind == "finished"
    assert "Evicted" in report.detail


def test_jobs_report_their_end_and_their_deletion() -> None:
    running = {"metadata": META, "status": {"active": 1}}
    assert report_from_job(running) is None
    deadline = {
        "metadata": META,
        "status": {
            "conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]
        },
    }
    report = report_from_job(deadline)
    assert report is not None and report.kind == "finished" and report.deadline_exceeded
    gone = report_from_job(running, deleted=True)
    assert gone is not None and gone.kind == "gone" and str(META["name"]) in gone.detail


def test_report_strength_orders_result_over_gone_over_finished() -> None:
    finished = report_from_job(
        {"metadata": META, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    )
    message = encode_termination_message(result())
    done = report_from_pod(pod({"terminated": {"exitCode": 0, "message": message}}, "Succeeded"))
    gone = report_from_job({"metadata": META}, deleted=True)
    assert finished is not None and done is not None and gone is not None
    assert done.stronger_than(gone) and gone.stronger_than(finished)
    assert not gone.stronger_than(done) and not finished.stronger_than(gone)
    killed = report_from_pod(pod({"terminated": {"exitCode": 137, "reason": "Error"}}, "Failed"))
    assert killed is not None and killed.kind == "finished" and not killed.stronger_than(gone)


KEY = tokens.callback_key("ci", "run-ci-abcdefgh")


def test_requests_are_read_from_annotations() -> None:
    completion = result().model_dump_json()
    progress = ProgressReport(kind="progress", instance_id="build.3", attempt=2).model_dump_json()
    annotations = {
        f"callback.cairn.dev/{KEY}.tokenA": completion,
        f"callback.cairn.dev/{KEY}.tokenB": progress,
        f"callback.cairn.dev/{'0' * 16}.tokenC": completion,
        "callback.cairn.dev/nonsense": completion,
        f"callback.cairn.dev/{KEY}.tokenD": "{not json",
        "cairn.dev/cancel": "enough",
        "cairn.dev/retry": "build",
        "unrelated": "x",
    }
    assert has_requests(annotations) and not has_requests({"unrelated": "x"})
    requests = read_requests(annotations, KEY)
    assert [(c.token, type(c.payload).__name__) for c in requests.callbacks] == [
        ("tokenA", "JobResult"),
        ("tokenB", "ProgressReport"),
    ]
    why = {key.split("/")[-1]: reason for key, _, reason in requests.rejected}
    assert why[f"{'0' * 16}.tokenC"] == "the token belongs to another workflow"
    assert why["nonsense"] == "malformed callback token"
    assert "not valid JSON" in why[f"{KEY}.tokenD"]
    assert requests.commands == {"cairn.dev/cancel": "enough", "cairn.dev/retry": "build"}
