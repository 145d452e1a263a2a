"""The compiler against actionlint, on the corpus and on mutants of it.

A file actionlint rejects for structure or syntax, Cairn rejects too; a file
it accepts (apart from lint and style findings), Cairn accepts. Where the two
disagree on purpose it is listed in docs/compiler-vs-actionlint.md and in
KNOWN_DIFFERENCES below.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from cairn.workflow import WorkflowError, load_workflow

pytestmark = pytest.mark.differential

ROOT = Path(__file__).resolve().parents[2]
VALID = sorted((ROOT / "tests" / "corpus" / "workflows" / "valid").glob("*.yml"))
INVALID = sorted((ROOT / "tests" / "corpus" / "workflows" / "invalid").glob("*.yml"))
EXAMPLES = sorted((ROOT / "examples" / "workflows").glob("*.yml"))

#: actionlint rule kinds about structure and syntax. Left out: shellcheck,
#: pyflakes, runner-label, action (deprecations and input checks of popular
#: actions), credentials, env-var, deprecated-commands, if-cond, ...
STRUCTURAL_KINDS = frozenset(
    {
        "syntax-check",
        "expression",
        "job-needs",
        "matrix",
        "events",
        "glob",
        "id",
        "permissions",
        "workflow-call",
    }
)

#: files where the verdicts differ on purpose: name -> why (see the docs)
KNOWN_DIFFERENCES: dict[str, str] = {
    "matrix-nested-expressions.yml": (
        "GitHub evaluates expressions nested inside static matrix values; Cairn "
        "defers only whole dimensions or lists to run time and refuses these as "
        "not supported"
    ),
}


def actionlint_findings(binary: str, paths: list[Path]) -> dict[str, list[dict[str, object]]]:
    """actionlint's structural findings per file (one run for all files)."""
    result = subprocess.run(
        [binary, "-shellcheck=", "-pyflakes=", "-format", "{{json .}}", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    findings: dict[str, list[dict[str, object]]] = {str(p.resolve()): [] for p in paths}
    for error in json.loads(result.stdout or "[]"):
        if error["kind"] in STRUCTURAL_KINDS:
            # actionlint prints paths relative to the working directory
            findings[str(Path(error["filepath"]).resolve())].append(error)
    return findings


def cairn_rejects(path: Path) -> bool:
    try:
        load_workflow(path)
    except WorkflowError:
        return True
    return False


@pytest.fixture(scope="module")
def corpus_findings(actionlint_path: str) -> dict[str, list[dict[str, object]]]:
    return actionlint_findings(actionlint_path, [*VALID, *INVALID, *EXAMPLES])


@pytest.mark.parametrize("path", [*VALID, *EXAMPLES], ids=lambda p: p.name)
def test_valid_files_are_accepted_by_both(
    path: Path, corpus_findings: dict[str, list[dict[str, object]]]
) -> None:
    assert corpus_findings[str(path.resolve())] == [], (
        "actionlint rejects a file of the valid corpus"
    )
    assert not cairn_rejects(path)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_files_are_rejected_by_both(
    path: Path, corpus_findings: dict[str, list[dict[str, object]]]
) -> None:
    assert cairn_rejects(path)
    if path.name in KNOWN_DIFFERENCES:
        # a listed difference stays true: actionlint still accepts the file
        assert corpus_findings[str(path.resolve())] == [], (
            f"actionlint now rejects {path.name}: drop it from KNOWN_DIFFERENCES"
        )
        return
    assert corpus_findings[str(path.resolve())], "actionlint accepts a file of the invalid corpus"


# -- mutants: one realistic mistake injected into each valid workflow -----------------

Mutator = Callable[[str], str | None]


def _sub_first(pattern: str, replacement: str) -> Mutator:
    def mutate(text: str) -> str | None:
        mutated, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
        return mutated if count else None

    return mutate


def _unknown_event(text: str) -> str | None:
    mutated, count = re.subn(r"^on:\n", "on:\n  pushh:\n", text, count=1, flags=re.MULTILINE)
    return mutated if count else None


def _needs_ghost(text: str) -> str | None:
    found = re.search(r"^(    needs: )(.+)$", text, flags=re.MULTILINE)
    if found is None:
        return None
    value = found.group(2).strip()
    items = value[1:-1] if value.startswith("[") else value
    return text[: found.start()] + f"{found.group(1)}[ghost, {items}]" + text[found.end() :]


MUTATORS: dict[str, Mutator] = {
    "typo-runs-on": _sub_first(r"^(    )runs-on:", r"\1runs_on:"),
    "typo-steps": _sub_first(r"^(    )steps:", r"\1step:"),
    "run-and-uses": _sub_first(r"^(      - )run: ", r"\1uses: actions/checkout@v4\n        run: "),
    "unclosed-expression": _sub_first(r"\$\{\{([^}\n]*)\}\}", r"${{\1"),
    "unknown-event": _unknown_event,
    "needs-unknown-job": _needs_ghost,
    "bad-timeout": _sub_first(r"^(    )runs-on:", r"\1timeout-minutes: soon\n\1runs-on:"),
    "bad-glob": _sub_first(r"^(    branches: \[)", r"\1'v[0-9', "),
}


def _mutants(tmp_root: Path) -> list[tuple[str, Path]]:
    made: list[tuple[str, Path]] = []
    for source in VALID:
        text = source.read_text()
        for name, mutate in MUTATORS.items():
            mutated = mutate(text)
            if mutated is None or mutated == text:
                continue
            target = tmp_root / f"{source.stem}--{name}.yml"
            target.write_text(mutated)
            made.append((name, target))
    return made


def test_mutants_are_rejected_by_both(actionlint_path: str, tmp_path: Path) -> None:
    mutants = _mutants(tmp_path)
    assert len(mutants) >= 40
    assert {name for name, _ in mutants} == set(MUTATORS), "a mutator applies to no workflow"
    findings = actionlint_findings(actionlint_path, [path for _, path in mutants])
    disagreements = []
    for name, path in mutants:
        theirs = bool(findings[str(path.resolve())])
        ours = cairn_rejects(path)
        if not (theirs and ours):
            disagreements.append(
                f"{name} in {path.name}: actionlint rejects={theirs}, cairn rejects={ours}"
            )
    assert disagreements == []


def test_neutral_rewrites_are_accepted_by_both(actionlint_path: str, tmp_path: Path) -> None:
    """Changes that keep a workflow valid: comments, flow style, quoting."""
    rewrites: list[Path] = []
    for source in VALID:
        text = source.read_text()
        variants = {
            "commented": "# a comment at the top\n"
            + text.replace("\njobs:\n", "\n# jobs\njobs:\n"),
            "quoted-on": text.replace("\non:", '\n"on":', 1) if "\non:" in text else None,
        }
        for name, variant in variants.items():
            if variant is None:
                continue
            target = tmp_path / f"{source.stem}--{name}.yml"
            target.write_text(variant)
            rewrites.append(target)
    findings = actionlint_findings(actionlint_path, rewrites)
    for path in rewrites:
        assert findings[str(path.resolve())] == [], path.name
        assert not cairn_rejects(path), path.name
