"""The intermediate representation (IR) of a GitHub Actions workflow.

Every model is immutable. Values that GitHub evaluates at run time stay as the
raw strings of the YAML (with their ``${{ }}`` parts intact): the compiler only
checks that the delimiters balance, the engine and the runner evaluate them.
Fields typed ``bool | str`` or ``float | str`` hold either the literal value or
an expression string.

The same IR is stored in a ``CIWorkflow``'s spec, so it must round-trip through
JSON: ``Workflow.model_validate_json(wf.model_dump_json(by_alias=True))``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: GitHub's default for ``timeout-minutes`` (jobs and steps).
DEFAULT_TIMEOUT_MINUTES = 360.0


class IRModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class RunDefaults(IRModel):
    """``defaults.run``: the shell and working directory of ``run`` steps."""

    shell: str | None = None
    working_directory: str | None = Field(default=None, alias="working-directory")


class Concurrency(IRModel):
    """``concurrency`` as a string (the group) or a map."""

    group: str
    cancel_in_progress: bool | str = Field(default=False, alias="cancel-in-progress")


class EventFilter(IRModel):
    """The filters of one ``on.<event>`` entry. ``None`` means "not given"."""

    types: tuple[str, ...] | None = None
    branches: tuple[str, ...] | None = None
    branches_ignore: tuple[str, ...] | None = Field(default=None, alias="branches-ignore")
    tags: tuple[str, ...] | None = None
    tags_ignore: tuple[str, ...] | None = Field(default=None, alias="tags-ignore")
    paths: tuple[str, ...] | None = None
    paths_ignore: tuple[str, ...] | None = Field(default=None, alias="paths-ignore")
    #: ``workflow_run``: the workflows it follows.
    workflows: tuple[str, ...] | None = None


InputType = Literal["string", "boolean", "number", "choice", "environment"]


class WorkflowInput(IRModel):
    """An input of ``workflow_dispatch`` or ``workflow_call``."""

    description: str | None = None
    required: bool = False
    default: str | bool | float | int | None = None
    type: InputType = "string"
    options: tuple[str, ...] = ()


class WorkflowCallOutput(IRModel):
    description: str | None = None
    value: str


class WorkflowCallSecret(IRModel):
    description: str | None = None
    required: bool = False


class Schedule(IRModel):
    cron: str


class Triggers(IRModel):
    """``on``. ``events`` maps every event name to its filters (empty filter =
    no filtering); ``schedule``, ``workflow_dispatch`` and ``workflow_call``
    also appear in ``events`` so "is this event a trigger" is one lookup."""

    events: dict[str, EventFilter]
    schedule: tuple[Schedule, ...] = ()
    dispatch_inputs: dict[str, WorkflowInput] = Field(default_factory=dict)
    call_inputs: dict[str, WorkflowInput] = Field(default_factory=dict)
    call_outputs: dict[str, WorkflowCallOutput] = Field(default_factory=dict)
    call_secrets: dict[str, WorkflowCallSecret] = Field(default_factory=dict)


class RunsOn(IRModel):
    """``runs-on``: a label, a list of labels, or ``group``/``labels``.
    Labels may be expressions (``${{ matrix.os }}``)."""

    labels: tuple[str, ...] = ()
    group: str | None = None
    #: the whole ``runs-on`` value is one expression (``${{ matrix.runner }}``)
    expression: str | None = None


class Environment(IRModel):
    name: str
    url: str | None = None


class Container(IRModel):
    """Job ``container`` or one entry of ``services``."""

    image: str
    credentials: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    options: str | None = None


class Matrix(IRModel):
    """``strategy.matrix``.

    When the whole matrix is an expression (``${{ fromJSON(...) }}``),
    ``expression`` holds it and the rest is empty: it is expanded at run time.
    A single dimension, ``include`` or ``exclude`` may also be an expression
    string, which likewise defers expansion to run time.
    """

    dimensions: dict[str, list[Any] | str] = Field(default_factory=dict)
    include: list[dict[str, Any]] | str = Field(default_factory=list)
    exclude: list[dict[str, Any]] | str = Field(default_factory=list)
    expression: str | None = None

    @property
    def is_dynamic(self) -> bool:
        """True when expansion must wait for run time (it uses an expression)."""
        return (
            self.expression is not None
            or isinstance(self.include, str)
            or isinstance(self.exclude, str)
            or any(isinstance(v, str) for v in self.dimensions.values())
        )


class Strategy(IRModel):
    matrix: Matrix | None = None
    fail_fast: bool | str = Field(default=True, alias="fail-fast")
    max_parallel: int | str | None = Field(default=None, alias="max-parallel")


class Step(IRModel):
    index: int
    line: int = 0
    id: str | None = None
    name: str | None = None
    if_: str | None = Field(default=None, alias="if")
    run: str | None = None
    uses: str | None = None
    shell: str | None = None
    working_directory: str | None = Field(default=None, alias="working-directory")
    env: dict[str, str] = Field(default_factory=dict)
    with_: dict[str, str] = Field(default_factory=dict, alias="with")
    continue_on_error: bool | str = Field(default=False, alias="continue-on-error")
    timeout_minutes: float | str | None = Field(default=None, alias="timeout-minutes")

    @property
    def display_name(self) -> str:
        """GitHub's step name: ``name``, else ``Run <first line>`` / ``Run <action>``."""
        if self.name:
            return self.name
        if self.run is not None:
            first = self.run.strip().splitlines()[0] if self.run.strip() else ""
            return f"Run {first}"
        return f"Run {self.uses}"


class Job(IRModel):
    id: str
    line: int = 0
    name: str | None = None
    needs: tuple[str, ...] = ()
    if_: str | None = Field(default=None, alias="if")
    runs_on: RunsOn | None = Field(default=None, alias="runs-on")
    environment: Environment | None = None
    outputs: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    defaults: RunDefaults = Field(default_factory=RunDefaults)
    permissions: dict[str, str] | str | None = None
    concurrency: Concurrency | None = None
    timeout_minutes: float | str = Field(default=DEFAULT_TIMEOUT_MINUTES, alias="timeout-minutes")
    continue_on_error: bool | str = Field(default=False, alias="continue-on-error")
    strategy: Strategy | None = None
    container: Container | None = None
    services: dict[str, Container] = Field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    #: reusable-workflow call (``jobs.<id>.uses``): no ``steps`` then
    uses: str | None = None
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    secrets: dict[str, str] | Literal["inherit"] | None = None


class Workflow(IRModel):
    #: path of the file as given to the compiler (used in error messages)
    file: str
    #: ``name``, or the file path when absent (as GitHub shows it)
    name: str
    run_name: str | None = Field(default=None, alias="run-name")
    on: Triggers
    env: dict[str, str] = Field(default_factory=dict)
    defaults: RunDefaults = Field(default_factory=RunDefaults)
    permissions: dict[str, str] | str | None = None
    concurrency: Concurrency | None = None
    #: in file order
    jobs: dict[str, Job]


class JobInstance(IRModel):
    """One node of the DAG: a job, or one combination of its matrix.

    ``id`` is unique in the workflow: the job id for a job without a matrix,
    ``<job>.<n>`` for the n-th combination (``.`` is not allowed in job ids).
    A job whose matrix is dynamic has one placeholder instance with
    ``dynamic_matrix=True``; the engine expands it at run time.
    """

    id: str
    job_id: str
    #: GitHub's display name: ``build (ubuntu-latest, 3.11)``
    name: str
    matrix: dict[str, Any] = Field(default_factory=dict)
    #: job ids (not instance ids): needing a matrix job waits for all its instances
    needs: tuple[str, ...] = ()
    dynamic_matrix: bool = False


class Plan(IRModel):
    """A compiled workflow: the IR plus its expanded DAG in topological order."""

    workflow: Workflow
    instances: tuple[JobInstance, ...]
