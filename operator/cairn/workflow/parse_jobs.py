"""``jobs:``: jobs, their steps, strategy, containers and reusable-workflow calls."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cairn.workflow import templates
from cairn.workflow import vocabulary as vocab
from cairn.workflow.errors import MatrixError
from cairn.workflow.matrix import RESERVED, expand_matrix
from cairn.workflow.model import (
    DEFAULT_TIMEOUT_MINUTES,
    Container,
    Environment,
    Job,
    Matrix,
    RunsOn,
    Step,
    Strategy,
)
from cairn.workflow.parse_common import (
    key_node,
    read_concurrency,
    read_defaults,
    read_env,
    read_permissions,
)
from cairn.workflow.reader import Reader, describe
from cairn.workflow.yamltree import Mapping, Node, Scalar, Sequence

#: ``jobs.<id>.uses``: a workflow of this repository or of another one at a ref
_REUSABLE_LOCAL = re.compile(r"\./\.github/workflows/[^/\s]+\.ya?ml\Z")
_REUSABLE_REMOTE = re.compile(r"[^/\s@]+/[^/\s@]+/\.github/workflows/[^/\s@]+\.ya?ml@[^@\s]+\Z")
#: ``steps[*].uses``: ``owner/repo[/path]@ref``, ``./path`` or ``docker://image``
_ACTION_REMOTE = re.compile(r"[^/\s@]+/[^/\s@]+(?:/[^@\s]+)?@[^@\s]+\Z")


#: marks matrix data that holds an expression (already reported)
_DEFERRED: Any = object()


@dataclass
class JobSource:
    """Where a job's parts are in the file, for checks made after all jobs are read."""

    key: Scalar
    needs: list[tuple[str, Node]] = field(default_factory=list)


def read_jobs(r: Reader, node: Node) -> tuple[dict[str, Job], dict[str, JobSource]]:
    mapping = r.mapping(node, "'jobs'")
    if mapping is None:
        return {}, {}
    if not mapping.pairs:
        r.error(mapping, "'jobs' must define at least one job")
    jobs: dict[str, Job] = {}
    sources: dict[str, JobSource] = {}
    folded: dict[str, Scalar] = {}
    for job_id, key, value in mapping.items():
        r.check_template(key, job_id, "a job id", expressions=False)
        if not r.identifier(key, job_id, "job id"):
            continue
        other = folded.get(job_id.lower())
        if other is not None and other.value == job_id:
            continue  # an exact duplicate key, already reported by the YAML reader
        if other is not None:
            r.error(
                key,
                f"job id {job_id!r} differs only in case from {other.value!r} "
                f"(line {other.line}); job ids are case-insensitive",
            )
            continue
        folded[job_id.lower()] = key
        source = JobSource(key)
        job = _JobReader(r, job_id, source).read(value)
        sources[job_id] = source
        if job is not None:
            jobs[job_id] = job
    _canonical_needs(jobs, sources)
    return jobs, sources


def _canonical_needs(jobs: dict[str, Job], sources: dict[str, JobSource]) -> None:
    """Spell every ``needs`` entry as the job id it names. Job ids are
    case-insensitive (``needs: Build`` waits for ``build``); the IR names each
    job one way, so the engine and the plan never have to fold case."""
    declared = {job_id.lower(): job_id for job_id in sources}
    for source in sources.values():
        source.needs = [(declared.get(name.lower(), name), node) for name, node in source.needs]
    for job_id, job in jobs.items():
        needs = tuple(declared.get(name.lower(), name) for name in job.needs)
        if needs != job.needs:
            jobs[job_id] = job.model_copy(update={"needs": needs})


class _JobReader:
    def __init__(self, r: Reader, job_id: str, source: JobSource) -> None:
        self.r = r
        self.id = job_id
        self.where = f"jobs.{job_id}"
        self.source = source

    def read(self, node: Node) -> Job | None:
        r = self.r
        mapping = r.mapping(node, f"job {self.id!r}")
        if mapping is None:
            return None
        is_caller = mapping.get("uses") is not None
        found = r.fields(
            mapping,
            vocab.CALLER_JOB_KEYS if is_caller else vocab.RUNNER_JOB_KEYS,
            f"job {self.id!r}",
            unsupported=vocab.UNSUPPORTED_JOB_KEYS,
            hint=lambda key: self._misplaced_key(key, is_caller),
        )
        if not is_caller:
            if "steps" not in found:
                r.error(
                    self.source.key,
                    f"job {self.id!r} must have 'steps' (to run on a runner) or 'uses' "
                    "(to call a reusable workflow)",
                )
            if "runs-on" not in found:
                r.error(self.source.key, f"job {self.id!r} is missing the required key 'runs-on'")

        args: dict[str, Any] = {"id": self.id, "line": self.source.key.line}
        readers = {
            "name": self._name,
            "needs": self._needs,
            "if": self._if,
            "runs-on": self._runs_on,
            "environment": self._environment,
            "outputs": self._outputs,
            "env": lambda n: read_env(r, n, f"{self.where}.env", "jobs.<job_id>.env"),
            "defaults": lambda n: read_defaults(
                r, n, f"{self.where}.defaults", "jobs.<job_id>.defaults.run"
            ),
            "permissions": lambda n: read_permissions(r, n, f"{self.where}.permissions"),
            "concurrency": lambda n: read_concurrency(
                r, n, f"{self.where}.concurrency", "jobs.<job_id>.concurrency"
            ),
            "timeout-minutes": lambda n: _timeout(
                r, n, f"{self.where}.timeout-minutes", "jobs.<job_id>.timeout-minutes"
            ),
            "continue-on-error": lambda n: r.boolean(
                n, f"{self.where}.continue-on-error", place="jobs.<job_id>.continue-on-error"
            ),
            "strategy": self._strategy,
            "container": lambda n: self._container(n, f"{self.where}.container", service=False),
            "services": self._services,
            "steps": self._steps,
            "uses": self._uses,
            "with": self._with,
            "secrets": self._secrets,
        }
        for key, value in found.items():
            result = readers[key](value)
            if result is not None:
                args[key.replace("-", "_") + ("_" if key in ("if", "with") else "")] = result
        if "timeout_minutes" not in args:
            args["timeout_minutes"] = DEFAULT_TIMEOUT_MINUTES
        return Job(**args)

    def _misplaced_key(self, key: str, is_caller: bool) -> str | None:
        if is_caller and key in vocab.RUNNER_JOB_KEYS:
            return (
                f"{key!r} is not allowed in job {self.id!r}, which calls a reusable workflow "
                "('uses'); the called workflow defines it"
            )
        if not is_caller and key in vocab.CALLER_JOB_KEYS:
            return f"{key!r} is only valid in a job that calls a reusable workflow ('uses')"
        return None

    # -- simple fields ----------------------------------------------------------

    def _name(self, node: Node) -> str | None:
        return self.r.text(node, f"{self.where}.name", place="jobs.<job_id>.name")

    def _if(self, node: Node) -> str | None:
        return self.r.text(node, f"{self.where}.if", place="jobs.<job_id>.if", condition=True)

    def _needs(self, node: Node) -> tuple[str, ...] | None:
        r = self.r
        items: list[Node]
        if isinstance(node, Scalar):
            items = [node]
        else:
            seq = r.sequence(node, f"{self.where}.needs")
            if seq is None:
                return None
            items = seq.items
        needs: list[str] = []
        for item in items:
            name = r.text(item, f"{self.where}.needs", expressions=False, non_empty=True)
            if name is None:
                continue
            if name.lower() in (need.lower() for need in needs):
                r.error(item, f"job {self.id!r} lists {name!r} twice in 'needs'")
                continue
            needs.append(name)
            self.source.needs.append((name, item))
        return tuple(needs)

    def _runs_on(self, node: Node) -> RunsOn | None:
        r = self.r
        where = f"{self.where}.runs-on"
        place = "jobs.<job_id>.runs-on"
        if isinstance(node, Scalar):
            label = r.text(node, where, place=place, non_empty=True)
            if label is None:
                return None
            if r.is_expression(node):
                return RunsOn(expression=label)
            return RunsOn(labels=(label,))
        if isinstance(node, Sequence):
            if not node.items:
                r.error(node, f"{where} must list at least one label")
                return None
            read = [
                r.text(item, f"a label of {where}", place=place, non_empty=True)
                for item in node.items
            ]
            return RunsOn(labels=tuple(label for label in read if label is not None))
        mapping = r.mapping(node, where)
        if mapping is None:
            return None
        found = r.fields(mapping, vocab.RUNS_ON_KEYS, f"'{where}'")
        if not found:
            r.error(mapping, f"{where} needs a 'group', 'labels' or both")
            return None
        group = r.optional_text(found, "group", f"{where}.group", place=place, non_empty=True)
        labels: tuple[str, ...] = ()
        if "labels" in found:
            labels = r.string_list(found["labels"], f"{where}.labels", place=place) or ()
        return RunsOn(group=group, labels=labels)

    def _environment(self, node: Node) -> Environment | None:
        r = self.r
        where = f"{self.where}.environment"
        place = "jobs.<job_id>.environment"
        read = r.shorthand(node, where, vocab.ENVIRONMENT_KEYS, "name", place=place)
        if read is None:
            return None
        name, found = read
        url = r.optional_text(found, "url", f"{where}.url", place="jobs.<job_id>.environment.url")
        return None if name is None else Environment(name=name, url=url)

    def _outputs(self, node: Node) -> dict[str, str]:
        return self.r.string_map(
            node, f"{self.where}.outputs", place="jobs.<job_id>.outputs.<output_id>"
        )

    # -- strategy ----------------------------------------------------------------

    def _strategy(self, node: Node) -> Strategy | None:
        r = self.r
        where = f"{self.where}.strategy"
        mapping = r.mapping(node, where)
        if mapping is None:
            return None
        found = r.fields(mapping, vocab.STRATEGY_KEYS, f"'{where}'")
        matrix = self._matrix(found["matrix"]) if "matrix" in found else None
        fail_fast: bool | str | None = True
        if "fail-fast" in found:
            fail_fast = r.boolean(
                found["fail-fast"], f"{where}.fail-fast", place="jobs.<job_id>.strategy"
            )
        max_parallel: int | float | str | None = None
        if "max-parallel" in found:
            max_parallel = r.number(
                found["max-parallel"],
                f"{where}.max-parallel",
                integer=True,
                minimum=1,
                place="jobs.<job_id>.strategy",
            )
        if fail_fast is None:
            return None
        return Strategy(
            matrix=matrix,
            fail_fast=fail_fast,
            max_parallel=int(max_parallel) if isinstance(max_parallel, float) else max_parallel,
        )

    def _matrix(self, node: Node) -> Matrix | None:
        r = self.r
        where = f"{self.where}.strategy.matrix"
        place = "jobs.<job_id>.strategy"
        if r.is_expression(node):
            assert isinstance(node, Scalar) and isinstance(node.value, str)
            r.check_template(node, node.value, where, place=place)
            return Matrix(expression=node.value)
        mapping = r.mapping(node, where)
        if mapping is None:
            return None
        dimensions: dict[str, list[Any] | str] = {}
        lists: dict[str, list[dict[str, Any]] | str] = {"include": [], "exclude": []}
        ok = True
        for name, _key, value in mapping.items():
            here = f"{where}.{name}"
            if r.is_expression(value):
                assert isinstance(value, Scalar) and isinstance(value.value, str)
                r.check_template(value, value.value, here, place=place)
                if name in RESERVED:
                    lists[name] = value.value
                else:
                    dimensions[name] = value.value
                continue
            if name in RESERVED:
                entries = self._matrix_entries(value, here)
                if entries is None:
                    ok = False
                else:
                    lists[name] = entries
                continue
            if not isinstance(value, Sequence):
                r.error(
                    value,
                    f"{here} must be a sequence of values or an expression, not {describe(value)}",
                )
                ok = False
                continue
            if not value.items:
                r.error(value, f"{here} must have at least one value")
                ok = False
                continue
            values = [self._matrix_data(item, here) for item in value.items]
            if any(item is _DEFERRED for item in values):
                ok = False
                continue
            dimensions[name] = values
        if not ok:
            return None
        matrix = Matrix(dimensions=dimensions, include=lists["include"], exclude=lists["exclude"])
        if not matrix.is_dynamic:
            try:
                expand_matrix(matrix_mapping(matrix))
            except MatrixError as exc:
                r.error(mapping, f"{where}: {exc}")
                return None
        elif not dimensions and not lists["include"]:
            r.error(mapping, f"{where} needs at least one dimension or an 'include' entry")
        return matrix

    def _matrix_entries(self, node: Node, where: str) -> list[dict[str, Any]] | None:
        r = self.r
        seq = r.sequence(node, where)
        if seq is None:
            return None
        entries: list[dict[str, Any]] = []
        for item in seq.items:
            entry = r.mapping(item, f"an entry of {where}")
            if entry is None:
                return None
            if not entry.pairs:
                r.error(entry, f"an entry of {where} must not be empty")
                return None
            data = self._matrix_data(entry, where)
            if data is _DEFERRED:
                return None
            entries.append(data)
        return entries

    def _matrix_data(self, node: Node, where: str) -> Any:
        """A value of a static matrix as plain data, or ``_DEFERRED`` (reported)
        when a string inside it holds an expression.

        GitHub evaluates every expression of ``strategy``, wherever it sits. The
        IR defers only whole dimensions, ``include``/``exclude`` lists or the
        whole matrix to run time; a value nested in a static list would reach
        the job as its raw ``${{ }}`` text, so it is refused rather than run wrong.
        """
        r = self.r
        pending = [node]
        while pending:
            current = pending.pop()
            if isinstance(current, Mapping):
                pending.extend(value for _, value in current.pairs)
            elif isinstance(current, Sequence):
                pending.extend(current.items)
            elif (
                isinstance(current, Scalar)
                and isinstance(current.value, str)
                and templates.has_expression(current.value)
            ):
                r.error(
                    current,
                    f"{where}: an expression inside a matrix value is not supported by Cairn "
                    "(it would not be evaluated); write the whole dimension, 'include' or "
                    "'exclude' as one expression, e.g. ${{ fromJSON(...) }}",
                )
                return _DEFERRED
        return r.plain(node, where, "jobs.<job_id>.strategy")

    # -- containers --------------------------------------------------------------

    def _container(self, node: Node, where: str, *, service: bool) -> Container | None:
        r = self.r
        # rows of GitHub's context-availability table for this container
        if service:
            place = "jobs.<job_id>.services"
            image_place = place
            credentials_place = "jobs.<job_id>.services.<service_id>.credentials"
            env_place = "jobs.<job_id>.services.<service_id>.env.<env_id>"
        else:
            place = "jobs.<job_id>.container"
            image_place = "jobs.<job_id>.container.image"
            credentials_place = "jobs.<job_id>.container.credentials"
            env_place = "jobs.<job_id>.container.env.<env_id>"
        read = r.shorthand(node, where, vocab.CONTAINER_KEYS, "image", place=image_place)
        if read is None:
            return None
        image, found = read
        credentials: dict[str, str] = {}
        if "credentials" in found:
            creds = r.mapping(found["credentials"], f"{where}.credentials")
            if creds is not None:
                keys = r.fields(creds, vocab.CREDENTIAL_KEYS, f"'{where}.credentials'")
                for name, value in keys.items():
                    text = r.text(value, f"{where}.credentials.{name}", place=credentials_place)
                    if text is not None:
                        credentials[name] = text
        env = read_env(r, found["env"], f"{where}.env", env_place) if "env" in found else {}
        ports = self._text_items(found.get("ports"), f"{where}.ports", place)
        volumes = self._text_items(found.get("volumes"), f"{where}.volumes", place)
        options = r.optional_text(found, "options", f"{where}.options", place=place)
        if image is None:
            return None
        return Container(
            image=image,
            credentials=credentials,
            env=env,
            ports=ports,
            volumes=volumes,
            options=options,
        )

    def _text_items(self, node: Node | None, where: str, place: str) -> tuple[str, ...]:
        if node is None:
            return ()
        seq = self.r.sequence(node, where)
        if seq is None:
            return ()
        items = [self.r.text(item, f"an item of {where}", place=place) for item in seq.items]
        return tuple(item for item in items if item is not None)

    def _services(self, node: Node) -> dict[str, Container]:
        r = self.r
        mapping = r.mapping(node, f"{self.where}.services")
        if mapping is None:
            return {}
        services: dict[str, Container] = {}
        for name, key, value in mapping.items():
            r.identifier(key, name, "service name")
            container = self._container(value, f"{self.where}.services.{name}", service=True)
            if container is not None:
                services[name] = container
        return services

    # -- steps -------------------------------------------------------------------

    def _steps(self, node: Node) -> tuple[Step, ...] | None:
        r = self.r
        seq = r.sequence(node, f"{self.where}.steps")
        if seq is None:
            return None
        if not seq.items:
            r.error(seq, f"job {self.id!r} must have at least one step")
        steps: list[Step] = []
        ids: dict[str, Scalar] = {}
        for index, item in enumerate(seq.items):
            step = self._step(index, item, ids)
            if step is not None:
                steps.append(step)
        return tuple(steps)

    def _step(self, index: int, node: Node, ids: dict[str, Scalar]) -> Step | None:
        r = self.r
        where = f"{self.where}.steps[{index}]"
        mapping = r.mapping(node, where)
        if mapping is None:
            return None
        has_run = mapping.get("run") is not None
        has_uses = mapping.get("uses") is not None
        if has_run and has_uses:
            second = max(
                key_node(mapping, "run"),
                key_node(mapping, "uses"),
                key=lambda k: (k.line, k.column),
            )
            r.error(second, f"{where} has both 'run' and 'uses'; a step does one or the other")
        elif not has_run and not has_uses:
            r.error(mapping, f"{where} must have 'run' (a command) or 'uses' (an action)")

        def hint(key: str) -> str | None:
            if key in vocab.USES_ONLY_STEP_KEYS and has_run and not has_uses:
                return f"{key!r} is only valid in a step with 'uses', not in a 'run' step"
            if key in vocab.RUN_ONLY_STEP_KEYS and has_uses and not has_run:
                return f"{key!r} is only valid in a step with 'run', not in a 'uses' step"
            return None

        allowed = [
            k
            for k in vocab.STEP_KEYS
            if not (k in vocab.USES_ONLY_STEP_KEYS and has_run and not has_uses)
            and not (k in vocab.RUN_ONLY_STEP_KEYS and has_uses and not has_run)
        ]
        found = r.fields(
            mapping, allowed, f"step {where}", hint=hint, unsupported=vocab.UNSUPPORTED_STEP_KEYS
        )
        args: dict[str, Any] = {"index": index, "line": mapping.line}
        if "id" in found:
            args["id"] = self._step_id(found["id"], ids)
        if "name" in found:
            args["name"] = r.text(found["name"], f"{where}.name", place="jobs.<job_id>.steps.name")
        if "if" in found:
            args["if_"] = r.text(
                found["if"], f"{where}.if", place="jobs.<job_id>.steps.if", condition=True
            )
        if "run" in found:
            args["run"] = r.text(
                found["run"], f"{where}.run", place="jobs.<job_id>.steps.run", non_empty=True
            )
        if "uses" in found:
            args["uses"] = self._action(found["uses"], f"{where}.uses")
        if "shell" in found:
            args["shell"] = r.text(
                found["shell"], f"{where}.shell", expressions=False, non_empty=True
            )
        if "working-directory" in found:
            args["working_directory"] = r.text(
                found["working-directory"],
                f"{where}.working-directory",
                place="jobs.<job_id>.steps.working-directory",
                non_empty=True,
            )
        if "env" in found:
            args["env"] = read_env(r, found["env"], f"{where}.env", "jobs.<job_id>.steps.env")
        if "with" in found:
            args["with_"] = r.string_map(
                found["with"], f"{where}.with", place="jobs.<job_id>.steps.with"
            )
        if "continue-on-error" in found:
            args["continue_on_error"] = r.boolean(
                found["continue-on-error"],
                f"{where}.continue-on-error",
                place="jobs.<job_id>.steps.continue-on-error",
            )
        if "timeout-minutes" in found:
            args["timeout_minutes"] = _timeout(
                r,
                found["timeout-minutes"],
                f"{where}.timeout-minutes",
                "jobs.<job_id>.steps.timeout-minutes",
            )
        cleaned = {k: v for k, v in args.items() if v is not None}
        if not has_run and not has_uses:
            return None
        if ("run" in found and "run" not in cleaned) or ("uses" in found and "uses" not in cleaned):
            return None
        return Step(**cleaned)

    def _step_id(self, node: Node, ids: dict[str, Scalar]) -> str | None:
        r = self.r
        step_id = r.text(node, "a step id", expressions=False)
        if step_id is None:
            return None
        assert isinstance(node, Scalar)
        if not r.identifier(node, step_id, "step id"):
            return None
        if step_id.startswith("__"):
            r.error(node, f"invalid step id {step_id!r}: ids starting with '__' are reserved")
            return None
        first = ids.get(step_id.lower())
        if first is not None:
            r.error(
                node,
                f"duplicate step id {step_id!r} in job {self.id!r} "
                f"(first used at line {first.line}); step ids are case-insensitive",
            )
            return None
        ids[step_id.lower()] = node
        return step_id

    def _action(self, node: Node, where: str) -> str | None:
        r = self.r
        uses = r.text(node, where, expressions=False, non_empty=True)
        if uses is None or templates.has_expression(uses):
            return None
        if uses.startswith("./") or uses.startswith("docker://"):
            if uses in ("./", "docker://"):
                r.error(node, f"{where} {uses!r} is missing the path or image")
                return None
            return uses
        if not _ACTION_REMOTE.match(uses):
            r.error(
                node,
                f"{where} {uses!r} is not a valid action reference: use "
                "'{owner}/{repo}[/path]@{ref}', './path/to/action' or 'docker://image'",
            )
            return None
        return uses

    # -- reusable workflow calls ---------------------------------------------------

    def _uses(self, node: Node) -> str | None:
        r = self.r
        where = f"{self.where}.uses"
        uses = r.text(node, where, expressions=False, non_empty=True)
        if uses is None or templates.has_expression(uses):
            return None
        if not (_REUSABLE_LOCAL.match(uses) or _REUSABLE_REMOTE.match(uses)):
            r.error(
                node,
                f"{where} {uses!r} is not a reusable workflow reference: use "
                "'./.github/workflows/<file>.yml' or "
                "'{owner}/{repo}/.github/workflows/<file>.yml@{ref}'",
            )
            return None
        return uses

    def _with(self, node: Node) -> dict[str, Any]:
        r = self.r
        where = f"{self.where}.with"
        mapping = r.mapping(node, where)
        if mapping is None:
            return {}
        values: dict[str, Any] = {}
        for name, key, value in mapping.items():
            r.identifier(key, name, "input name")
            if isinstance(value, Mapping | Sequence):
                r.error(
                    value,
                    f"{where}.{name} must be a string, number or boolean, not {describe(value)}",
                )
                continue
            values[name] = r.plain(value, f"{where}.{name}", "jobs.<job_id>.with.<with_id>")
        return values

    def _secrets(self, node: Node) -> dict[str, str] | str | None:
        r = self.r
        where = f"{self.where}.secrets"
        if isinstance(node, Scalar) and node.value == "inherit":
            return "inherit"
        if isinstance(node, Scalar):
            r.error(
                node, f"{where} must be 'inherit' or a mapping of secrets, not {describe(node)}"
            )
            return None
        return r.string_map(node, where, place="jobs.<job_id>.secrets.<secrets_id>")


def _timeout(r: Reader, node: Node, where: str, place: str) -> float | int | str | None:
    value = r.number(node, where, place=place)
    if isinstance(value, int | float) and value <= 0:
        r.error(node, f"{where} must be greater than 0")
        return None
    return value


def matrix_mapping(matrix: Matrix) -> dict[str, Any]:
    """A static ``Matrix`` as the concrete mapping ``expand_matrix`` takes."""
    concrete: dict[str, Any] = dict(matrix.dimensions)
    if matrix.include:
        concrete["include"] = matrix.include
    if matrix.exclude:
        concrete["exclude"] = matrix.exclude
    return concrete
