"""`cairn expr`: JSON on stdout, the rendered string with --template, exit 2 on error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cairn.cli import main


@pytest.fixture
def context_file(tmp_path: Path) -> Path:
    path = tmp_path / "ctx.json"
    path.write_text(
        json.dumps(
            {
                "github": {"event_name": "push", "actor": "octocat", "ref": "refs/heads/main"},
                "matrix": {"node": 20, "os": "ubuntu-latest"},
            }
        )
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["expr", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_json(capsys: pytest.CaptureFixture[str], context_file: Path) -> None:
    code, out, err = run(capsys, "github.event_name == 'push'", "--context", str(context_file))
    assert (code, out, err) == (0, "true\n", "")
    code, out, _ = run(capsys, "fromJSON('{\"a\": [1, 2.50]}')")
    assert code == 0 and json.loads(out) == {"a": [1, 2.5]}
    code, out, _ = run(capsys, "matrix", "--context", str(context_file))
    assert json.loads(out) == {"node": 20, "os": "ubuntu-latest"}
    code, out, _ = run(capsys, "github.missing", "--context", str(context_file))
    assert out == "null\n"


def test_accepts_a_single_wrapped_expression(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "${{ 1.50 }}") == (0, "1.5\n", "")


def test_template(capsys: pytest.CaptureFixture[str], context_file: Path) -> None:
    code, out, err = run(
        capsys,
        "--template",
        "node ${{ matrix.node }} by ${{ github.actor }}",
        "--context",
        str(context_file),
    )
    assert (code, out, err) == (0, "node 20 by octocat\n", "")


def test_condition_and_status(capsys: pytest.CaptureFixture[str], context_file: Path) -> None:
    ctx = ["--context", str(context_file)]
    assert run(capsys, "--condition", "github.event_name == 'push'", *ctx)[1] == "true\n"
    assert (
        run(capsys, "--condition", "github.event_name == 'push'", "--status", "failure", *ctx)[1]
        == "false\n"
    )
    assert run(capsys, "--condition", "failure()", "--status", "failure")[1] == "true\n"
    assert run(capsys, "failure()", "--status", "cancelled")[1] == "false\n"


def test_context_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO('{"GitHub": {"actor": "mona"}}'))
    assert run(capsys, "github.actor", "--context", "-") == (0, '"mona"\n', "")


def test_hash_files_reads_the_workspace(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "a.lock").write_text("x")
    code, out, _ = run(capsys, "hashFiles('*.lock')", "--workspace", str(tmp_path))
    assert code == 0 and len(json.loads(out)) == 64


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["github."], "cairn expr: 1:7: unexpected end of expression\n"),
        (["fromJSON('x')"], "cairn expr: 1:1: fromJSON(): the argument is not valid JSON"),
        (["foo == 1"], "cairn expr: 1:1: unrecognized context 'foo'"),
        (["a ${{ 1 }}"], "cairn expr: EXPR mixes text and ${{ }}: use --template"),
        (["--template", "${{ 1"], "cairn expr: 1:1: the expression is not closed"),
        (["github", "--context", "/nonexistent/ctx.json"], "cairn expr: cannot read the context"),
    ],
)
def test_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(message), err


def test_bad_context_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "is not valid JSON" in run(capsys, "github", "--context", str(bad))[2]
    bad.write_text("[1, 2]")
    assert "must hold a JSON object" in run(capsys, "github", "--context", str(bad))[2]


def test_context_files_that_are_not_utf8_or_nest_too_deeply(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"github": {"actor": "Jos\xe9"}}')
    code, out, err = run(capsys, "github.actor", "--context", str(latin))
    assert (code, out) == (2, "")
    assert err.startswith(f"cairn expr: the context file {latin} is not UTF-8 text (byte 25")
    deep = tmp_path / "deep.json"
    deep.write_text('{"github": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, out, err = run(capsys, "github", "--context", str(deep))
    assert (code, out) == (2, "")
    assert err == f"cairn expr: the context file {deep} nests its values too deeply to be read\n"


def test_context_from_stdin_bytes_with_a_byte_order_mark(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    stdin = io.TextIOWrapper(io.BytesIO(b'\xef\xbb\xbf{"github": {"actor": "mona"}}'))
    monkeypatch.setattr("sys.stdin", stdin)
    assert run(capsys, "github.actor", "--context", "-") == (0, '"mona"\n', "")


def test_a_vanished_current_directory_leaves_hash_files_without_a_workspace(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert run(capsys, "1 == 1") == (0, "true\n", "")
    code, out, err = run(capsys, "hashFiles('*.lock')")
    assert (code, out) == (2, "")
    assert err.startswith("cairn expr: 1:1: hashFiles() needs a workspace")
