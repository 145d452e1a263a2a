"""The positioned YAML tree: GitHub's YAML 1.2 core scalars, positions, limits."""

from __future__ import annotations

import math

import pytest

from cairn.workflow import WorkflowError, parse_workflow
from cairn.workflow.yamltree import (
    MAX_DEPTH,
    MAX_EXPANDED_CHARS,
    MAX_EXPANDED_NODES,
    MAX_FILE_BYTES,
    ComposeFatal,
    Mapping,
    Scalar,
    Sequence,
    compose,
    resolve_plain_scalar,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on", "on"),
        ("off", "off"),
        ("yes", "yes"),
        ("no", "no"),
        ("y", "y"),
        ("true", True),
        ("True", True),
        ("FALSE", False),
        ("tRUE", "tRUE"),
        ("null", None),
        ("~", None),
        ("", None),
        ("42", 42),
        ("-7", -7),
        ("010", 10),  # YAML 1.1 would read octal 8
        ("0o17", 15),
        ("0x1F", 31),
        ("3.10", 3.1),
        ("1e3", 1000.0),
        ("3.11.2", "3.11.2"),
        ("1_000", "1_000"),  # YAML 1.1 would read 1000
        ("12:30", "12:30"),  # YAML 1.1 would read a sexagesimal 750
    ],
)
def test_plain_scalars_follow_the_yaml_1_2_core_schema(text: str, expected: object) -> None:
    value = resolve_plain_scalar(text)
    assert value == expected
    assert type(value) is type(expected)


def test_infinity_and_nan() -> None:
    assert resolve_plain_scalar(".inf") == math.inf
    assert resolve_plain_scalar("-.Inf") == -math.inf
    assert math.isnan(resolve_plain_scalar(".NaN"))  # type: ignore[arg-type]


def test_the_on_key_stays_a_string_and_quoted_scalars_stay_strings() -> None:
    doc = compose("on: push\nversion: '3.10'\nflag: \"true\"\n")
    assert isinstance(doc.root, Mapping)
    assert [name for name, _, _ in doc.root.items()] == ["on", "version", "flag"]
    assert doc.root.get("version").value == "3.10"  # type: ignore[union-attr]
    assert doc.root.get("flag").value == "true"  # type: ignore[union-attr]


def test_nodes_remember_their_one_based_position() -> None:
    doc = compose("jobs:\n  build:\n    runs-on: [a, b]\n")
    assert isinstance(doc.root, Mapping)
    build = doc.root.get("jobs").get("build")  # type: ignore[union-attr]
    runs_on = build.get("runs-on")
    assert isinstance(runs_on, Sequence)
    assert (runs_on.line, runs_on.column) == (3, 14)
    second = runs_on.items[1]
    assert isinstance(second, Scalar)
    assert (second.line, second.column, second.value) == (3, 18, "b")


def test_duplicate_keys_and_merge_keys_are_reported_but_the_tree_is_usable() -> None:
    doc = compose("base: &base {a: 1}\nx: 1\nx: 2\ny:\n  <<: *base\n")
    messages = [(p.line, p.column, p.message) for p in doc.problems]
    assert messages[0][:2] == (3, 1)
    assert "duplicate key 'x' (first defined at line 2)" in messages[0][2]
    assert messages[1][:2] == (5, 3)
    assert "merge keys" in messages[1][2]


def test_anchors_and_aliases_share_one_node() -> None:
    doc = compose("a: &env {A: 1}\nb: *env\n")
    assert isinstance(doc.root, Mapping)
    assert doc.root.get("a") is doc.root.get("b")


def _billion_laughs(levels: int = 9, fan_out: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * fan_out)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_without_expanding_it() -> None:
    with pytest.raises(ComposeFatal) as caught:
        compose(_billion_laughs())
    assert "aliases" in caught.value.problem.message
    # the refusal happens at the first level that crosses the limit, not at the end
    assert caught.value.problem.line < 10


def test_an_alias_bomb_in_a_workflow_is_a_workflow_error() -> None:
    text = "on: push\n" + _billion_laughs() + "jobs: {}\n"
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text, "bomb.yml")
    assert "alias" in str(caught.value)
    assert str(caught.value).startswith("bomb.yml:")


def test_aliases_of_long_text_are_refused_by_their_expanded_size() -> None:
    # Few nodes, but each alias repeats 100,000 characters: a 100 KB file
    # whose IR would hold gigabytes of text.
    text = (
        "on: push\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-latest\n"
        "    strategy:\n"
        "      matrix:\n"
        f"        text: [&s {'x' * 100_000}]\n"
        "        l1: [&l1 [" + ", ".join(["*s"] * 40) + "]]\n"
        "        l2: [[" + ", ".join(["*l1"] * 40) + "]]\n"
        "    steps:\n"
        "      - run: make\n"
    )
    assert len(text) < MAX_FILE_BYTES
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text, "strings.yml")
    message = str(caught.value)
    assert f"more than {MAX_EXPANDED_CHARS} characters" in message
    assert message.startswith("strings.yml:8:")


def test_aliases_of_empty_values_are_refused_by_their_node_count() -> None:
    # No text at all (nulls): only the node budget can stop this one.
    bomb = _billion_laughs().replace('"lol"', "~")
    with pytest.raises(ComposeFatal) as caught:
        compose(bomb)
    assert f"more than {MAX_EXPANDED_NODES} nodes" in caught.value.problem.message


def test_reusing_anchored_text_within_the_budget_is_fine() -> None:
    script = "echo step; " * 200  # ~2 KB, reused by 20 jobs
    jobs = "".join(
        f"  job{n}:\n    runs-on: x\n    steps:\n      - run: {'*s' if n else '&s ' + script}\n"
        for n in range(20)
    )
    workflow = parse_workflow("on: push\njobs:\n" + jobs, "reuse.yml")
    assert all(job.steps[0].run == script.strip() for job in workflow.jobs.values())


def test_recursive_and_undefined_aliases() -> None:
    with pytest.raises(ComposeFatal, match="recursive YAML alias"):
        compose("a: &a [1, *a]\n")
    with pytest.raises(ComposeFatal, match="undefined anchor &nope"):
        compose("a: *nope\n")


def test_nesting_depth_is_limited() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(ComposeFatal, match="deeper than"):
        compose(deep)
    compose("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))


def test_one_document_only() -> None:
    with pytest.raises(ComposeFatal, match="exactly one YAML document") as caught:
        compose("a: 1\n---\nb: 2\n")
    assert caught.value.problem.line == 2


def test_syntax_errors_carry_the_position_of_the_problem() -> None:
    with pytest.raises(ComposeFatal) as caught:
        compose("jobs:\n  build:\n    steps: [a, b\n")
    problem = caught.value.problem
    assert problem.message.startswith("YAML syntax error:")
    assert problem.line == 4


def test_non_scalar_keys_and_tags_are_rejected() -> None:
    with pytest.raises(ComposeFatal, match="mapping keys must be strings"):
        compose("? [a, b]\n: c\n")
    doc = compose("a: !custom value\nb: !!str 12\n")
    assert [p.message for p in doc.problems] == [
        "YAML tag '!custom' is not supported in workflow files"
    ]
    assert doc.root.get("b").value == "12"  # type: ignore[union-attr]


def test_core_schema_tags_type_their_scalars() -> None:
    doc = compose("a: !!int '12'\nb: !!bool true\nc: !!null ~\nd: !!int x\ne: !!int true\n")
    assert isinstance(doc.root, Mapping)
    assert [n.value for _, _, n in doc.root.items()] == [12, True, None, "x", "true"]  # type: ignore[attr-defined]
    assert [(p.line, p.message) for p in doc.problems] == [
        (4, "'x' is not an integer, as its tag says"),
        (5, "'true' is not an integer, as its tag says"),
    ]
