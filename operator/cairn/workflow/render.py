"""The output formats of ``cairn plan``: json (a stable contract), text, mermaid.

The JSON shape is documented in ``docs/plan.md``; change it only compatibly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cairn.workflow import exprsupport, templates
from cairn.workflow.model import Job, JobInstance, Plan
from cairn.workflow.names import display_value
from cairn.workflow.triggers import TriggerDecision


@dataclass(frozen=True)
class PlannedWorkflow:
    plan: Plan
    event: str
    decision: TriggerDecision


# -- shared ------------------------------------------------------------------------


def runs_on_labels(job: Job, matrix: Mapping[str, Any]) -> list[str] | None:
    """``runs-on`` as a list of labels, rendered over ``matrix`` where possible.

    ``None`` for a job that calls a reusable workflow; a runner group is the
    first item, as ``group:<name>``.
    """
    runs_on = job.runs_on
    if runs_on is None:
        return None
    if runs_on.expression is not None:
        value = exprsupport.evaluate_with_matrix(runs_on.expression, matrix)
        if value is exprsupport.UNRENDERED:
            return [runs_on.expression]
        if isinstance(value, list):
            return [display_value(v) for v in value]
        return [display_value(value)]
    labels = [_render(label, matrix) for label in runs_on.labels]
    if runs_on.group is not None:
        labels.insert(0, "group:" + _render(runs_on.group, matrix))
    return labels


def _render(text: str, matrix: Mapping[str, Any]) -> str:
    if not templates.has_expression(text):
        return text
    rendered = exprsupport.render_with_matrix(text, matrix)
    return text if rendered is None else rendered


def _timeout(value: float | str) -> float | int | str:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _by_job(plan: Plan) -> list[tuple[Job, list[JobInstance]]]:
    """Instances grouped by job, jobs in the plan's (topological) order."""
    groups: dict[str, list[JobInstance]] = {}
    for instance in plan.instances:
        groups.setdefault(instance.job_id, []).append(instance)
    return [(plan.workflow.jobs[job_id], instances) for job_id, instances in groups.items()]


# -- json --------------------------------------------------------------------------


def to_json_document(planned: list[PlannedWorkflow]) -> dict[str, Any]:
    return {"workflows": [_workflow_json(p) for p in planned]}


def _workflow_json(planned: PlannedWorkflow) -> dict[str, Any]:
    workflow = planned.plan.workflow
    jobs = []
    for instance in planned.plan.instances:
        job = workflow.jobs[instance.job_id]
        jobs.append(
            {
                "key": instance.job_id,
                "name": instance.name,
                "matrix": instance.matrix,
                "needs": list(instance.needs),
                "runs_on": runs_on_labels(job, instance.matrix),
                "if": job.if_,
                "timeout_minutes": _timeout(job.timeout_minutes),
                "steps": len(job.steps),
            }
        )
    return {
        "file": workflow.file,
        "name": workflow.name,
        "triggered": planned.decision.triggered,
        "jobs": jobs,
    }


def render_json(planned: list[PlannedWorkflow]) -> str:
    return json.dumps(to_json_document(planned), indent=2, ensure_ascii=False) + "\n"


# -- text --------------------------------------------------------------------------


def render_text(planned: list[PlannedWorkflow]) -> str:
    if not planned:
        return ""  # every file failed: the errors on stderr say it all
    lines: list[str] = []
    for index, item in enumerate(planned):
        if index:
            lines.append("")
        workflow = item.plan.workflow
        lines.append(f"{workflow.name}  ({workflow.file})")
        verdict = "runs" if item.decision.triggered else "does not run"
        lines.append(f"  on {item.event}: {verdict} - {item.decision.reason}")
        groups = _by_job(item.plan)
        total = len(item.plan.instances)
        lines.append(f"  {len(groups)} job(s), {total} instance(s)")
        for position, (job, instances) in enumerate(groups):
            last = position == len(groups) - 1
            branch, rail = ("└─ ", "   ") if last else ("├─ ", "│  ")
            lines.append("  " + branch + _job_line(job, instances))
            if job.strategy is not None and job.strategy.matrix is not None:
                for n, instance in enumerate(instances):
                    leaf = "└─ " if n == len(instances) - 1 else "├─ "
                    lines.append("  " + rail + leaf + _instance_line(job, instance))
    return "\n".join(lines) + "\n"


def _job_line(job: Job, instances: list[JobInstance]) -> str:
    matrix = job.strategy.matrix if job.strategy is not None else None
    if matrix is None:
        head = instances[0].name
        runs_on = runs_on_labels(job, {})
    elif instances[0].dynamic_matrix:
        source = matrix.expression or "an expression"
        head = f"{job.id}  (matrix computed at run time from {source})"
        runs_on = None
    else:
        head = f"{job.id}  ({len(instances)} instances)"
        runs_on = None
    details = [head]
    if runs_on:
        details.append("[" + ", ".join(runs_on) + "]")
    if job.uses is not None:
        details.append(f"calls {job.uses}")
    else:
        details.append(f"{len(job.steps)} step{'s' if len(job.steps) != 1 else ''}")
    if job.needs:
        details.append("needs " + ", ".join(job.needs))
    if job.if_ is not None:
        details.append(f"if {job.if_}")
    return "  ".join(details)


def _instance_line(job: Job, instance: JobInstance) -> str:
    if instance.dynamic_matrix:
        return "(one instance per combination, known at run time)"
    runs_on = runs_on_labels(job, instance.matrix)
    label = f"  [{', '.join(runs_on)}]" if runs_on else ""
    return f"{instance.name}{label}"


# -- mermaid -----------------------------------------------------------------------

_UNSAFE_LABEL = re.compile(r'["<>#\n\r]')
#: Mermaid reads ``#name;`` in a label as an entity code, so ``#`` is one too;
#: a line break would end the node's statement
_LABEL_CODES = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "#": "#35;", "\n": " ", "\r": " "}


def _label(text: str) -> str:
    """Mermaid label text: characters Mermaid would read as syntax, as entity codes."""
    return _UNSAFE_LABEL.sub(lambda m: _LABEL_CODES[m.group()], text)


def render_mermaid(planned: list[PlannedWorkflow]) -> str:
    lines = ["flowchart LR"]
    edges: list[str] = []
    for w, item in enumerate(planned):
        workflow = item.plan.workflow
        suffix = "" if item.decision.triggered else f" (not run on {item.event})"
        lines.append(f'  subgraph w{w}["{_label(workflow.name + suffix)}"]')
        node_of: dict[str, str] = {}
        for j, (job, instances) in enumerate(_by_job(item.plan)):
            node = f"w{w}j{j}"
            node_of[job.id] = node
            matrix = job.strategy.matrix if job.strategy is not None else None
            if matrix is None:
                lines.append(f'    {node}["{_label(instances[0].name)}"]')
            elif instances[0].dynamic_matrix:
                lines.append(f'    {node}[["{_label(job.id)} (matrix at run time)"]]')
            else:
                lines.append(
                    f'    subgraph {node}["{_label(job.id)} ({len(instances)} instances)"]'
                )
                for n, instance in enumerate(instances):
                    lines.append(f'      {node}i{n}["{_label(instance.name)}"]')
                lines.append("    end")
            for need in job.needs:
                edges.append(f"  {node_of[need]} --> {node}")
        lines.append("  end")
    return "\n".join(lines + edges) + "\n"


RENDERERS = {"json": render_json, "text": render_text, "mermaid": render_mermaid}
