"""The JobResult as a Kubernetes termination message.

A container's termination message holds at most 4096 bytes, so the result is
written compactly (no defaults, no whitespace, no step summaries), and cut
down step by step when it still does not fit. Any cut-down form carries
``truncated: true`` so the operator knows to get the full result another way;
the last resort keeps only the conclusion and reason, which always fits.
"""

from __future__ import annotations

from pydantic import ValidationError

from cairn.engine.jobspec import JobResult, StepResult
from cairn.runner.errors import RunnerError

#: Kubernetes' limit for one container's termination message
TERMINATION_MESSAGE_LIMIT = 4096
_MAX_REASON = 512


class ResultDecodeError(RunnerError):
    """A termination message is not a JobResult."""


def compact_json(result: JobResult) -> str:
    return result.model_dump_json(exclude_defaults=True)


def _steps(result: JobResult, **update: object) -> tuple[StepResult, ...]:
    return tuple(step.model_copy(update=update) for step in result.steps)


def encode_termination_message(result: JobResult, limit: int = TERMINATION_MESSAGE_LIMIT) -> str:
    """The most complete compact form of ``result`` within ``limit`` bytes."""
    full = result.model_copy(update={"steps": _steps(result, summary=None)})
    smaller = [
        full,
        full.model_copy(update={"annotations": (), "truncated": True}),
        full.model_copy(
            update={
                "annotations": (),
                "truncated": True,
                "steps": _steps(full, started_at=None, completed_at=None),
            }
        ),
        full.model_copy(
            update={
                "annotations": (),
                "truncated": True,
                "steps": _steps(full, started_at=None, completed_at=None, outputs={}),
            }
        ),
        full.model_copy(update={"annotations": (), "truncated": True, "steps": ()}),
    ]
    for candidate in smaller:
        text = compact_json(candidate)
        if len(text.encode()) <= limit:
            return text
    reason = result.reason
    if reason is not None and len(reason) > _MAX_REASON:
        reason = reason[:_MAX_REASON] + "..."
    marker = JobResult(
        instance_id=result.instance_id,
        attempt=result.attempt,
        conclusion=result.conclusion,
        reason=reason,
        truncated=True,
    )
    text = compact_json(marker)
    if len(text.encode()) > limit:
        text = compact_json(marker.model_copy(update={"reason": None}))
    return text


def decode_termination_message(text: str) -> JobResult:
    """Parse what :func:`encode_termination_message` wrote. Check
    ``.truncated`` to know whether steps, outputs or annotations are missing."""
    try:
        return JobResult.model_validate_json(text)
    except ValidationError as exc:
        raise ResultDecodeError(f"not a job result: {exc.errors()[0]['msg']}") from None
