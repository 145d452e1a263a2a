"""What a sandbox's callback carries, and how the operator reads it back.

A sandbox POSTs its ``JobResult`` (completion) or a ``ProgressReport`` to the
receiver, which stores it canonicalised in the CIWorkflow's annotation
``callback.cairn.dev/<token>``; the operator parses the same value when it
consumes the annotation. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cairn.engine.jobspec import JobResult, StepResult
from cairn.errors import CairnError
from cairn.k8s.resources import CALLBACK_ANNOTATION_PREFIX


class InvalidCallback(CairnError):
    """A callback body that is neither a job result nor a progress report."""


class ProgressReport(BaseModel):
    """A running job's interim state: the steps finished so far."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["progress"]
    instance_id: str
    attempt: int = Field(ge=1)
    steps: tuple[StepResult, ...] = ()
    message: str | None = Field(default=None, max_length=4096)


CallbackPayload = JobResult | ProgressReport


def annotation_key(token: str) -> str:
    return CALLBACK_ANNOTATION_PREFIX + token


def parse_callback(body: bytes) -> CallbackPayload:
    """A completion (``JobResult``) or a progress report (``"kind": "progress"``)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidCallback(f"the callback body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidCallback("the callback body must be a JSON object")
    model: type[BaseModel] = ProgressReport if data.get("kind") == "progress" else JobResult
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        what = "progress report" if model is ProgressReport else "job result"
        raise InvalidCallback(f"the callback body is not a valid {what}: {problems}") from None


def canonical_value(payload: CallbackPayload) -> str:
    return payload.model_dump_json()


def is_completion(value: str) -> bool:
    """Whether a stored annotation value is a completion (not progress)."""
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        return False
    return isinstance(data, dict) and data.get("kind") != "progress"
