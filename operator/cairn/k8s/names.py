"""Deterministic names for everything the operator creates.

Durability rests on these names: creating a child a second time (after a
crash, a stale cache read, a duplicate event) must hit the same name and get
AlreadyExists, never make a twin. So a name is a pure function of the child's
identity, and two different identities never share a name:

- the readable part (``<run>-<workflow stem>``, ``<workflow>-<job>-<attempt>``)
  is lower-cased and stripped to DNS-1123 characters, which can merge
  different inputs (``CI.yml`` and ``ci.yaml``, ``a-b``+``c`` and ``a``+``b-c``);
- so every name ends in a hash of the exact, unambiguous identity, which
  keeps names unique however the readable part was folded or truncated.

All names are DNS-1123 labels of at most 63 characters: Job names end up in
pod labels (``job-name``), and CIWorkflow names in Cairn's own labels.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from cairn.errors import CairnError

#: Longest DNS-1123 label, and longest label value.
MAX_NAME_LENGTH = 63
#: Characters of the identity hash at the end of each name (base32: 40 bits).
HASH_LENGTH = 8

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NOT_DNS = re.compile(r"[^a-z0-9]+")


class InvalidNameError(CairnError):
    """An identity that cannot be named (empty parts, a bad attempt number)."""


def identity_hash(parts: Sequence[str]) -> str:
    """A short hash of ``parts``; unambiguous because parts are length-prefixed."""
    encoded = b"".join(len(p.encode()).to_bytes(4, "big") + p.encode() for p in parts)
    digest = hashlib.sha256(encoded).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:HASH_LENGTH]


def is_dns_label(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and bool(_DNS_LABEL.match(name))


def is_label_value(value: str) -> bool:
    return len(value) <= MAX_NAME_LENGTH and bool(_LABEL_VALUE.match(value))


def _fold(part: str) -> str:
    return _NOT_DNS.sub("-", part.lower()).strip("-")


def _fit(parts: list[str], budget: int) -> list[str]:
    """Shorten the longest parts first until ``'-'.join(parts)`` fits ``budget``."""
    parts = [p for p in parts if p]

    def joined_length(cap: int) -> int:
        kept = [min(len(p), cap) for p in parts]
        return sum(kept) + len(kept) - 1 if kept else 0

    if joined_length(max((len(p) for p in parts), default=0)) <= budget:
        return parts
    cap = max(len(p) for p in parts)
    while cap > 1 and joined_length(cap) > budget:
        cap -= 1
    fitted = [p[:cap].strip("-") for p in parts]
    fitted = [p for p in fitted if p]
    while fitted and sum(map(len, fitted)) + len(fitted) - 1 > budget:
        fitted.pop(0)
    return fitted


def dns_label(readable: Sequence[str], identity: Sequence[str] | None = None) -> str:
    """``<readable parts, folded and fitted>-<hash of identity>``.

    ``identity`` defaults to ``readable``; give it when the readable parts are
    not the whole identity (a stem instead of the file name).
    """
    digest = identity_hash(list(readable if identity is None else identity))
    prefix = _fit([_fold(p) for p in readable], MAX_NAME_LENGTH - HASH_LENGTH - 1)
    return "-".join([*prefix, digest])


def workflow_name(run_name: str, workflow_file: str) -> str:
    """The CIWorkflow of ``workflow_file`` (``ci.yml``) in CIRun ``run_name``."""
    if not run_name or not workflow_file:
        raise InvalidNameError("a CIWorkflow name needs a run name and a workflow file")
    stem = PurePosixPath(workflow_file).stem
    return dns_label([run_name, stem], identity=["workflow", run_name, workflow_file])


def job_name(workflow: str, instance_id: str, attempt: int) -> str:
    """The batch/v1 Job of ``attempt`` of job instance ``instance_id`` (``build.3``)."""
    if not workflow or not instance_id:
        raise InvalidNameError("a Job name needs a workflow name and a job instance id")
    if attempt < 1:
        raise InvalidNameError(f"attempts are numbered from 1, got {attempt}")
    return dns_label(
        [_without_hash(workflow), instance_id, str(attempt)],
        identity=["job", workflow, instance_id, str(attempt)],
    )


def _without_hash(name: str) -> str:
    """A name made by ``dns_label`` without its hash: the readable part only
    (the full name still goes into the identity that is hashed)."""
    head, _, tail = name.rpartition("-")
    if head and len(tail) == HASH_LENGTH and re.fullmatch(r"[a-z2-7]+", tail):
        return head
    return name


def spec_configmap_name(job: str) -> str:
    """The ConfigMap holding a Job's JobSpec: the Job's own name (another kind,
    so no clash), which makes ``kubectl get cm <job>`` obvious."""
    return job


def callback_secret_name(job: str) -> str:
    """The Secret holding a Job's callback secret: the Job's own name."""
    return job


def label_value(value: str) -> str:
    """``value`` itself when it is a valid label value, else a folded, hashed form.

    Labels select (``cairn.dev/job=build``); the exact value always travels in
    an annotation too, so a hashed label value never loses information.
    """
    if is_label_value(value):
        return value
    return dns_label([value])
