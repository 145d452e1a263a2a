"""GitHub's display names of job instances.

- Without ``name``, a job is shown by its id.
- A matrix job whose name has no expression gets its combination's values
  appended: ``build (ubuntu-latest, 3.11)``; null and empty values are left
  out, and nothing is appended when no value is left.
- A name with expressions is rendered and shown as is (no suffix): authors
  put ``${{ matrix.os }}`` in it precisely to choose what is shown. When it
  cannot be rendered at plan time (it reads contexts other than ``matrix``)
  the raw text is kept; the engine renders it when the job runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cairn.workflow import exprsupport, templates
from cairn.workflow.model import Job
from cairn.workflow.reader import scalar_text


def display_value(value: Any) -> str:
    """A matrix value as GitHub prints it in a job name: scalars as YAML scalars
    become strings, objects and arrays as compact JSON."""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return scalar_text(value)


def instance_name(job: Job, matrix: Mapping[str, Any]) -> str:
    """The display name of ``job`` run with the ``matrix`` combination (``{}``: none)."""
    if job.name is not None and templates.has_expression(job.name):
        rendered = exprsupport.render_with_matrix(job.name, matrix)
        return job.name if rendered is None else rendered
    base = job.name if job.name else job.id
    shown = [display_value(v) for v in matrix.values() if v is not None and v != ""]
    return f"{base} ({', '.join(shown)})" if shown else base
