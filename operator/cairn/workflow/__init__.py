"""GitHub Actions workflow YAML → typed IR → job DAG.

The public API of the compiler; the IR models live in ``cairn.workflow.model``.
"""

from cairn.workflow.dag import compile_plan
from cairn.workflow.errors import Diagnostic, MatrixError, WorkflowError, WorkflowNotFoundError
from cairn.workflow.loader import discover_workflows, load_workflow
from cairn.workflow.matrix import MAX_COMBINATIONS, expand_matrix
from cairn.workflow.names import instance_name
from cairn.workflow.parser import parse_workflow
from cairn.workflow.triggers import TriggerDecision, explain_trigger, is_triggered
from cairn.workflow.yamltree import MAX_FILE_BYTES

__all__ = [
    "MAX_COMBINATIONS",
    "MAX_FILE_BYTES",
    "Diagnostic",
    "MatrixError",
    "TriggerDecision",
    "WorkflowError",
    "WorkflowNotFoundError",
    "compile_plan",
    "discover_workflows",
    "expand_matrix",
    "explain_trigger",
    "instance_name",
    "is_triggered",
    "load_workflow",
    "parse_workflow",
]
