"""CIWorkflow objects as the operator writes them: labels, and the engine's
checkpoint in ``status.state``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cairn.engine.state import JobState, WorkflowState
from cairn.engine.tokens import callback_token
from cairn.k8s.resources import LABEL_CALLBACK_KEY, LABEL_RUN
from cairn.k8s.tokens import callback_key, callback_secret, public_token

SEED = "seed-of-the-run-0123456789"
CREATED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def engine_token(instance_id: str, attempt: int = 1) -> str:
    return callback_token(SEED, instance_id, attempt)


def running_job(instance_id: str, attempt: int = 1) -> JobState:
    return JobState(
        phase="running",
        attempt=attempt,
        token=engine_token(instance_id, attempt),
        queued_at=CREATED,
        started_at=CREATED + timedelta(seconds=5),
        deadline=CREATED + timedelta(hours=6),
    )


def finished_job(instance_id: str, attempt: int = 1) -> JobState:
    return running_job(instance_id, attempt).model_copy(
        update={"phase": "completed", "conclusion": "success", "completed_at": CREATED}
    )


def workflow_object(
    namespace: str,
    name: str,
    jobs: dict[str, JobState],
    *,
    run: str = "gh-72d3162e-cc78-11e3-81ab-4c9367dc0958",
    phase: str = "Running",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    state = WorkflowState(
        phase="running", created_at=CREATED, deadline=CREATED + timedelta(days=35), jobs=jobs
    )
    return {
        "apiVersion": "cairn.dev/v1alpha1",
        "kind": "CIWorkflow",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                LABEL_RUN: run,
                LABEL_CALLBACK_KEY: callback_key(namespace, name),
            },
            "annotations": dict(annotations or {}),
        },
        "spec": {"run": run, "file": "ci.yml"},
        "status": {"phase": phase, "state": state.to_dict()},
    }


def token_for(namespace: str, name: str, instance_id: str, attempt: int = 1) -> str:
    return public_token(callback_key(namespace, name), engine_token(instance_id, attempt))


def bearer(operator_key: bytes, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {callback_secret(operator_key, token)}"}
