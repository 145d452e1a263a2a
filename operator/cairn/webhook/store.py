"""The receiver's only ways into the cluster.

Two narrow interfaces: a ``RunStore`` creates CIRuns, a ``WorkflowAnnotator``
finds a CIWorkflow by label and writes one annotation. ``kubeapi`` implements
them over the Kubernetes API; ``memory`` in memory, for tests and benchmarks.
Objects travel as the API's JSON (dicts), so both behave alike down to
``metadata.resourceVersion``.
"""

from __future__ import annotations

from typing import Any, Protocol


class RunStore(Protocol):
    async def create_run(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create the CIRun; True if created, False if one of that name already
        existed (a redelivery). Other failures raise ``KubeApiError``."""
        ...

    async def check_ready(self) -> None:
        """Return when the store is usable; raise ``KubeApiError`` otherwise."""
        ...


class WorkflowAnnotator(Protocol):
    async def list_workflows(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """The CIWorkflows of ``namespace`` matching an equality label selector."""
        ...

    async def annotate_workflow(
        self, namespace: str, name: str, key: str, value: str, *, replaces: str | None
    ) -> None:
        """Set one annotation of a CIWorkflow.

        ``replaces=None`` adds it (or overwrites it); otherwise the write
        happens only if the annotation still holds ``replaces`` and raises
        ``Conflict`` if not. Only this one key is compared, so sandboxes of
        the same workflow reporting at once never conflict with each other.
        ``NotFound`` if the workflow is gone; ``Conflict`` too when the API
        refuses the result (annotations over their size limit), so the caller
        re-reads and decides again.
        """
        ...


def parse_label_selector(selector: str) -> dict[str, str]:
    """An equality-based selector (``a=b,c=d``) as a mapping; the only kind the
    receiver sends, so the only kind the in-memory store needs to evaluate."""
    wanted: dict[str, str] = {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, sep, value = term.partition("=")
        if not sep or not key or key.endswith("!"):
            raise ValueError(f"unsupported label selector term {term!r} (only key=value)")
        wanted[key.strip()] = value.strip().lstrip("=")
    return wanted
