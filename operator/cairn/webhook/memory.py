"""An in-memory ``RunStore`` and ``WorkflowAnnotator``, for tests and benchmarks.

It keeps the API's observable rules the receiver relies on: AlreadyExists on a
repeated name, a resourceVersion bumped on every write and checked on patch,
label-selected lists, a write conditional on one annotation's value, and
the 256 KiB limit on an object's annotations.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from cairn.k8s.errors import Conflict, KubeApiError, KubeUnavailable, NotFound
from cairn.webhook.callbacks import ANNOTATIONS_SIZE_LIMIT, annotations_size
from cairn.webhook.store import parse_label_selector


def _copy(obj: dict[str, Any]) -> dict[str, Any]:
    """What the API stores and answers is JSON: a copy through JSON, like it
    (and several times faster than ``copy.deepcopy``)."""
    copied: dict[str, Any] = json.loads(json.dumps(obj))
    return copied


class InMemoryCluster:
    """CIRuns and CIWorkflows by ``(namespace, name)``."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], dict[str, Any]] = {}
        self.workflows: dict[tuple[str, str], dict[str, Any]] = {}
        self._versions = itertools.count(1)
        #: set to make every call fail as if the API server were down
        self.unavailable = False
        #: every (verb, namespace, detail) the receiver asked for, to assert on
        self.calls: list[tuple[str, str, str]] = []

    def _check_up(self) -> None:
        if self.unavailable:
            raise KubeUnavailable("the Kubernetes API is unreachable (simulated)")

    def _stamp(self, obj: dict[str, Any]) -> None:
        obj.setdefault("metadata", {})["resourceVersion"] = str(next(self._versions))

    async def create_run(self, namespace: str, body: dict[str, Any]) -> bool:
        self._check_up()
        name = body["metadata"]["name"]
        self.calls.append(("create", namespace, name))
        if (namespace, name) in self.runs:
            return False
        obj = _copy(body)
        obj["metadata"]["namespace"] = namespace
        self._stamp(obj)
        self.runs[(namespace, name)] = obj
        return True

    async def check_ready(self) -> None:
        self._check_up()

    def put_workflow(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store (or replace) a CIWorkflow, as the operator would."""
        meta = obj["metadata"]
        stored = _copy(obj)
        self._stamp(stored)
        self.workflows[(meta["namespace"], meta["name"])] = stored
        return stored

    async def list_workflows(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        self._check_up()
        self.calls.append(("list", namespace, label_selector))
        wanted = parse_label_selector(label_selector)
        if not wanted:
            raise KubeApiError("refusing an unselective list of every CIWorkflow")
        found = []
        for (ns, _), obj in self.workflows.items():
            labels = obj["metadata"].get("labels", {})
            if ns == namespace and all(labels.get(k) == v for k, v in wanted.items()):
                found.append(_copy(obj))
        return found

    async def annotate_workflow(
        self, namespace: str, name: str, key: str, value: str, *, replaces: str | None
    ) -> None:
        self._check_up()
        self.calls.append(("annotate", namespace, name))
        obj = self.workflows.get((namespace, name))
        if obj is None:
            raise NotFound(f"ciworkflows {name!r} not found", api_status=404, reason="NotFound")
        annotations = obj["metadata"].setdefault("annotations", {})
        if replaces is not None and annotations.get(key) != replaces:
            raise Conflict(f"{key} of {name} changed", api_status=422, reason="Invalid")
        merged = {**annotations, key: value}
        if annotations_size(merged) > ANNOTATIONS_SIZE_LIMIT:
            raise Conflict(
                "metadata.annotations: Too long: must have at most 262144 bytes",
                api_status=422,
                reason="Invalid",
            )
        obj["metadata"]["annotations"] = merged
        self._stamp(obj)
