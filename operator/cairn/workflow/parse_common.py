"""Readers of the sections shared by workflows and jobs: ``env``, ``defaults``,
``permissions``, ``concurrency``."""

from __future__ import annotations

from cairn.workflow import vocabulary as vocab
from cairn.workflow.model import Concurrency, RunDefaults
from cairn.workflow.reader import Reader, suggestion
from cairn.workflow.yamltree import Mapping, Node, Scalar


def read_env(r: Reader, node: Node, where: str, place: str) -> dict[str, str]:
    def check_name(key: Scalar, name: str) -> None:
        if not name or "=" in name or "\0" in name:
            r.error(key, f"invalid environment variable name {name!r} in {where}")

    return r.string_map(node, where, place=place, key_check=check_name)


def read_defaults(r: Reader, node: Node, where: str, place: str | None) -> RunDefaults:
    """``defaults``. ``place`` is the context-availability row of its values;
    ``None`` for the workflow level, where GitHub allows no expressions at all."""
    mapping = r.mapping(node, where)
    if mapping is None:
        return RunDefaults()
    found = r.fields(mapping, vocab.DEFAULTS_KEYS, f"'{where}'")
    if "run" not in found:
        return RunDefaults()
    run = r.mapping(found["run"], f"{where}.run")
    if run is None:
        return RunDefaults()
    keys = r.fields(run, vocab.RUN_DEFAULTS_KEYS, f"'{where}.run'")
    values: dict[str, str | None] = {}
    for key in vocab.RUN_DEFAULTS_KEYS:
        values[key] = (
            r.text(
                keys[key],
                f"{where}.run.{key}",
                place=place,
                expressions=place is not None,
                non_empty=True,
            )
            if key in keys
            else None
        )
    return RunDefaults(shell=values["shell"], working_directory=values["working-directory"])


def read_permissions(r: Reader, node: Node, where: str) -> dict[str, str] | str | None:
    if isinstance(node, Scalar):
        value = r.text(node, where, expressions=False)
        if value is None:
            return None
        if value not in vocab.PERMISSION_SHORTHANDS:
            r.error(
                node,
                f"{where} must be 'read-all', 'write-all' or a mapping of scopes, "
                f"not {value!r}{suggestion(value, vocab.PERMISSION_SHORTHANDS)}",
            )
            return None
        return value
    mapping = r.mapping(node, where)
    if mapping is None:
        return None
    permissions: dict[str, str] = {}
    for scope, key, level_node in mapping.items():
        if scope not in vocab.PERMISSION_SCOPES:
            r.error(
                key,
                f"unknown permission scope {scope!r} in {where}"
                f"{suggestion(scope, vocab.PERMISSION_SCOPES)}",
            )
            continue
        levels = vocab.PERMISSION_SCOPE_LEVELS.get(scope, vocab.PERMISSION_LEVELS)
        level = r.choice(level_node, f"{where}.{scope}", levels)
        if level is not None:
            permissions[scope] = level
    return permissions


def read_concurrency(r: Reader, node: Node, where: str, place: str) -> Concurrency | None:
    read = r.shorthand(node, where, vocab.CONCURRENCY_KEYS, "group", place=place)
    if read is None:
        return None
    group, found = read
    cancel: bool | str | None = False
    if "cancel-in-progress" in found:
        cancel = r.boolean(found["cancel-in-progress"], f"{where}.cancel-in-progress", place=place)
    if group is None or cancel is None:
        return None
    return Concurrency(group=group, cancel_in_progress=cancel)


def key_node(mapping: Mapping, name: str) -> Scalar:
    """The key node of ``name`` in ``mapping`` (which must contain it)."""
    for key_name, key, _ in mapping.items():
        if key_name == name:
            return key
    raise KeyError(name)
