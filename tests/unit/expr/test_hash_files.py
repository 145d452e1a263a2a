"""hashFiles(): GitHub's definition, checked against an independent computation
(SHA-256 over the concatenated SHA-256 digests of the matched files, visited
depth first with each directory's entries in byte order)."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from cairn.expr import ExpressionEvaluationError, parse


def expected(*files: Path) -> str:
    total = hashlib.sha256()
    for file in files:
        total.update(hashlib.sha256(file.read_bytes()).digest())
    return total.hexdigest()


def hash_files(workspace: Path, *patterns: str) -> str:
    args = ", ".join("'" + p.replace("'", "''") + "'" for p in patterns)
    result = parse(f"hashFiles({args})").evaluate({}, workspace=workspace)
    assert isinstance(result, str)
    return result


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    files = {
        "package-lock.json": '{"lockfileVersion": 3}',
        "b.txt": "b",
        "a-c.txt": "a-c",
        "a/x.txt": "x",
        "a/deep/y.txt": "y",
        "node_modules/dep/package-lock.json": "{}",
        ".github/workflows/ci.yml": "on: push",
        ".hidden.txt": "hidden",
        "src/main.py": "print('hi')",
        "src/util.py": "",
        "dist": "a file named dist",
    }
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return tmp_path


def test_one_file(repo: Path) -> None:
    assert hash_files(repo, "package-lock.json") == expected(repo / "package-lock.json")


def test_no_match_is_empty(repo: Path) -> None:
    assert hash_files(repo, "**/*.lock") == ""
    assert hash_files(repo, "missing/dir/**") == ""


def test_depth_first_in_byte_order(repo: Path) -> None:
    # "a" (a directory) sorts before "a-c.txt": its files come first, which a
    # plain sort of full paths ("a-c.txt" < "a/x.txt") would get wrong.
    assert hash_files(repo, "**/*.txt") == expected(
        repo / ".hidden.txt",
        repo / "a/deep/y.txt",
        repo / "a/x.txt",
        repo / "a-c.txt",
        repo / "b.txt",
    )


def test_exclusions_and_implicit_descendants(repo: Path) -> None:
    everything_but_a = expected(repo / ".hidden.txt", repo / "a-c.txt", repo / "b.txt")
    assert hash_files(repo, "**/*.txt", "!a/**") == everything_but_a
    assert hash_files(repo, "**/*.txt", "!a") == everything_but_a
    assert hash_files(repo, "**/*.txt\n!a\n# a comment\n") == everything_but_a
    assert hash_files(repo, "**/*.txt", "!a", "a/x.txt") == expected(
        repo / ".hidden.txt", repo / "a/x.txt", repo / "a-c.txt", repo / "b.txt"
    )
    assert hash_files(repo, "a") == expected(repo / "a/deep/y.txt", repo / "a/x.txt")


def test_realistic_lock_file_pattern(repo: Path) -> None:
    assert hash_files(repo, "**/package-lock.json") == expected(
        repo / "node_modules/dep/package-lock.json", repo / "package-lock.json"
    )
    assert hash_files(repo, "**/package-lock.json", "!node_modules/**") == expected(
        repo / "package-lock.json"
    )


def test_patterns_are_searched_in_order_and_files_counted_once(repo: Path) -> None:
    assert hash_files(repo, "b.txt", "a-c.txt") == expected(repo / "b.txt", repo / "a-c.txt")
    assert hash_files(repo, "src/*.py", "src/*.py") == expected(
        repo / "src/main.py", repo / "src/util.py"
    )


def test_glob_syntax(repo: Path) -> None:
    assert hash_files(repo, "?.txt") == expected(repo / "b.txt")
    assert hash_files(repo, "[ab]-c.txt") == expected(repo / "a-c.txt")
    assert hash_files(repo, "[!a]*.txt") == expected(repo / ".hidden.txt", repo / "b.txt")
    assert hash_files(repo, "src/m*") == expected(repo / "src/main.py")
    assert hash_files(repo, "./src/util.py") == expected(repo / "src/util.py")
    assert hash_files(repo, "src//util.py") == expected(repo / "src/util.py")
    assert hash_files(repo, ".github/**/*.yml") == expected(repo / ".github/workflows/ci.yml")


def test_a_pattern_ending_in_globstar_matches_a_file_of_that_name(repo: Path) -> None:
    # @actions/glob appends a separator to the path before matching such a pattern.
    assert hash_files(repo, "dist/**") == expected(repo / "dist")


def test_directories_are_not_hashed(repo: Path) -> None:
    assert hash_files(repo, "src") == expected(repo / "src/main.py", repo / "src/util.py")


def test_absolute_patterns(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert hash_files(repo, f"{repo}/b.txt") == expected(repo / "b.txt")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("no")
    assert hash_files(repo, f"{outside}/*.txt") == ""


def test_only_files_inside_the_workspace(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("no")
    os.symlink(outside / "secret.txt", repo / "link-out.txt")
    os.symlink(repo / "b.txt", repo / "link-in.txt")
    os.symlink(outside, repo / "linked-dir")
    assert hash_files(repo, "link-*.txt") == expected(repo / "b.txt")
    assert hash_files(repo, "linked-dir/**") == ""


def test_broken_link_is_an_error(repo: Path) -> None:
    os.symlink(repo / "nowhere", repo / "broken.txt")
    with pytest.raises(ExpressionEvaluationError, match="broken symbolic link"):
        hash_files(repo, "broken.txt")


@pytest.mark.parametrize("pattern", ["../x", "a/../b.txt", "a/./x.txt", "!"])
def test_invalid_patterns(repo: Path, pattern: str) -> None:
    with pytest.raises(ExpressionEvaluationError, match="hashFiles\\(\\): invalid pattern"):
        hash_files(repo, pattern)


def test_missing_workspace(tmp_path: Path) -> None:
    with pytest.raises(ExpressionEvaluationError, match="is not a directory"):
        hash_files(tmp_path / "missing", "*")


def test_error_names_the_call_position(repo: Path) -> None:
    with pytest.raises(ExpressionEvaluationError) as info:
        parse("steps.x.outcome || hashFiles('../x')").evaluate({}, workspace=repo)
    assert (info.value.line, info.value.column) == (1, 20)


def test_content_changes_change_the_hash(repo: Path) -> None:
    before = hash_files(repo, "**/*.py")
    (repo / "src/util.py").write_text("changed")
    assert hash_files(repo, "**/*.py") != before


def test_links_to_directories_are_followed_only_on_request(repo: Path) -> None:
    os.symlink(repo / "src", repo / "linked-src")
    os.symlink(repo, repo / "src" / "loop")  # a cycle, cut when following
    plain = expected(repo / "src/main.py", repo / "src/util.py")
    assert hash_files(repo, "linked-src/**") == ""
    assert hash_files(repo, "--follow-symbolic-links", "linked-src/*.py") == plain
    assert hash_files(repo, "--follow-symbolic-links", "src/**/*.py") == plain


def test_following_skips_broken_links(repo: Path) -> None:
    os.symlink(repo / "nowhere", repo / "broken.txt")
    assert hash_files(repo, "--follow-symbolic-links", "b.txt", "broken.txt") == expected(
        repo / "b.txt"
    )


def test_named_pipes_are_skipped_without_blocking(repo: Path) -> None:
    # Opening a pipe that nobody writes to waits forever; hashFiles must not.
    os.mkfifo(repo / "src" / "events.pipe")
    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(hash_files(repo, "src/**")))
    worker.daemon = True
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "hashFiles blocked on a named pipe"
    assert results == [expected(repo / "src" / "main.py", repo / "src" / "util.py")]


def test_a_directory_that_cannot_be_listed_is_an_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_listdir = os.listdir
    locked = str(repo / "a")

    def listdir(path: str) -> list[str]:
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied")
        return real_listdir(path)

    monkeypatch.setattr("cairn.expr.hashfiles.os.listdir", listdir)
    with pytest.raises(ExpressionEvaluationError) as info:
        hash_files(repo, "**/*.txt")
    assert info.value.message == f"hashFiles(): cannot list '{locked}': Permission denied"
    # the rest of the workspace still hashes
    src = repo / "src"
    assert hash_files(repo, "src/**") == expected(src / "main.py", src / "util.py")


def test_a_file_that_cannot_be_read_is_an_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open
    secret = str(repo / "b.txt")

    def guarded_open(path: str, flags: int, *args: int) -> int:
        if os.fspath(path) == secret:
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr("cairn.expr.hashfiles.os.open", guarded_open)
    with pytest.raises(ExpressionEvaluationError) as info:
        hash_files(repo, "*.txt")
    assert info.value.message == f"hashFiles(): cannot read '{secret}': Permission denied"
