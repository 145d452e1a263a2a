"""``parse_workflow``: YAML text → a checked ``Workflow`` IR, or every problem at once."""

from __future__ import annotations

from cairn.workflow import exprsupport
from cairn.workflow import vocabulary as vocab
from cairn.workflow.dag import dependency_problems
from cairn.workflow.errors import Diagnostic, WorkflowError
from cairn.workflow.model import RunDefaults, Workflow
from cairn.workflow.parse_common import (
    read_concurrency,
    read_defaults,
    read_env,
    read_permissions,
)
from cairn.workflow.parse_jobs import JobSource, read_jobs
from cairn.workflow.parse_triggers import read_triggers
from cairn.workflow.reader import Reader
from cairn.workflow.yamltree import MAX_FILE_BYTES, ComposeFatal, Mapping, compose


def parse_workflow(text: str | bytes, file: str) -> Workflow:
    """Compile one workflow file's text. ``file`` names it in diagnostics.

    Raises ``WorkflowError`` carrying every problem found in the file.
    """
    text = _decode(text, file)
    try:
        document = compose(text)
    except ComposeFatal as fatal:
        p = fatal.problem
        raise WorkflowError([Diagnostic(file, p.line, p.column, p.message)]) from None
    r = Reader(file, document.source)
    r.expression_check = exprsupport.check_expressions_hook
    for p in document.problems:
        r.error_at(p.line, p.column, p.message)

    root = document.root
    if root is None or (not isinstance(root, Mapping) and getattr(root, "value", 0) is None):
        raise WorkflowError([Diagnostic(file, 1, 1, "the workflow file is empty")])
    mapping = r.mapping(root, "a workflow")
    if mapping is None:
        raise WorkflowError(r.diagnostics)
    found = r.fields(
        mapping,
        vocab.WORKFLOW_KEYS,
        "the workflow",
        required=("on", "jobs"),
        unsupported=vocab.UNSUPPORTED_WORKFLOW_KEYS,
    )

    name = file
    if "name" in found:
        name = r.text(found["name"], "'name'", expressions=False) or file
    run_name = (
        r.text(found["run-name"], "'run-name'", place="run-name") if "run-name" in found else None
    )
    triggers = read_triggers(r, found["on"]) if "on" in found else None
    env = read_env(r, found["env"], "env", "env") if "env" in found else {}
    defaults = (
        read_defaults(r, found["defaults"], "defaults", None)
        if "defaults" in found
        else RunDefaults()
    )
    permissions = (
        read_permissions(r, found["permissions"], "permissions") if "permissions" in found else None
    )
    concurrency = (
        read_concurrency(r, found["concurrency"], "concurrency", "concurrency")
        if "concurrency" in found
        else None
    )
    jobs, sources = read_jobs(r, found["jobs"]) if "jobs" in found else ({}, {})
    _check_dependencies(r, sources)

    if r.diagnostics or triggers is None:
        raise WorkflowError(r.diagnostics)
    return Workflow(
        file=file,
        name=name,
        run_name=run_name,
        on=triggers,
        env=env,
        defaults=defaults,
        permissions=permissions,
        concurrency=concurrency,
        jobs=jobs,
    )


def _decode(text: str | bytes, file: str) -> str:
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise WorkflowError(
            [
                Diagnostic(
                    file,
                    1,
                    1,
                    f"the workflow file is {size} bytes; the limit is {MAX_FILE_BYTES} bytes "
                    f"({MAX_FILE_BYTES // 1024} KiB)",
                )
            ]
        )
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        prefix = text[: exc.start]
        line = prefix.count(b"\n") + 1
        column = exc.start - (prefix.rfind(b"\n") + 1) + 1
        raise WorkflowError(
            [Diagnostic(file, line, column, f"the file is not valid UTF-8 ({exc.reason})")]
        ) from None


def _check_dependencies(r: Reader, sources: dict[str, JobSource]) -> None:
    needs = {job: tuple(name for name, _ in source.needs) for job, source in sources.items()}
    for problem in dependency_problems(needs):
        source = sources[problem.job]
        node = next((n for name, n in source.needs if name == problem.need), None)
        if problem.need is not None and node is not None:
            r.error(node, problem.message)
        else:
            r.error(source.key, problem.message)
