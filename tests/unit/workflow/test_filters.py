"""GitHub's filter patterns, from the "Filter pattern cheat sheet"."""

from __future__ import annotations

import pytest

from cairn.workflow.filters import (
    FilterPatternError,
    compile_pattern,
    compile_patterns,
    match_ordered,
)


@pytest.mark.parametrize(
    ("pattern", "matches", "does_not_match"),
    [
        ("feature/*", ["feature/my-branch", "feature/your-branch"], ["feature/a/b", "main"]),
        ("feature/**", ["feature/beta-a/my-branch", "feature/mona/the/octocat"], ["features/x"]),
        ("main", ["main"], ["main2", "my-main"]),
        ("v2*", ["v2", "v2.0", "v2.9"], ["v1", "release/v2"]),
        ("v[12].[0-9]+.[0-9]+", ["v1.10.1", "v2.0.0"], ["v3.0.0", "v1.0"]),
        ("*", ["README.md", "server.rb"], ["docs/file.txt"]),
        ("*.jsx?", ["page.js", "page.jsx"], ["page.jsxx"]),
        ("**", ["all/the/files.md"], []),
        ("*.js", ["app.js", "index.js"], ["src/app.js"]),
        ("**.js", ["index.js", "js/index.js", "src/js/app.js"], ["index.ts"]),
        ("docs/*", ["docs/README.md", "docs/file.txt"], ["docs/a/b.md"]),
        ("docs/**", ["docs/README.md", "docs/mona/octocat.txt"], ["README.md"]),
        (
            "docs/**/*.md",
            ["docs/README.md", "docs/mona/hello-world.md", "docs/a/markdown/file.md"],
            ["docs/a.txt"],
        ),
        ("**/docs/**", ["docs/hello.md", "dir/docs/my-file.txt", "space/docs/plan/space.doc"], []),
        ("**/README.md", ["README.md", "js/README.md"], ["README.txt"]),
        ("**/*src/**", ["a/src/app.js", "my-src/code/js/app.js"], ["src.js"]),
        ("**/*-post.md", ["my-post.md", "path/their-post.md"], ["post.md"]),
        (
            "**/migrate-*.sql",
            ["migrate-10909.sql", "db/migrate-v1.0.sql", "db/sept/migrate-v1.sql"],
            [],
        ),
        ("*.md", ["README.md"], ["docs/README.md"]),
        ("[CB]at", ["Cat", "Bat"], ["Rat", "cat"]),
        ("[1-2]00", ["100", "200"], ["300"]),
        (r"release\+1", ["release+1"], ["releasee1"]),
        ("odd]name", ["odd]name"], ["oddname"]),
    ],
)
def test_documented_patterns(pattern: str, matches: list[str], does_not_match: list[str]) -> None:
    compiled = compile_pattern(pattern)
    for value in matches:
        assert compiled.matches(value), f"{pattern!r} should match {value!r}"
    for value in does_not_match:
        assert not compiled.matches(value), f"{pattern!r} should not match {value!r}"


def test_question_mark_repeats_the_preceding_character() -> None:
    # the cheat sheet: "?" matches zero or one of the preceding character
    compiled = compile_pattern("Octoc?at")
    assert compiled.matches("Octocat") and compiled.matches("Octoat")
    assert not compiled.matches("Octoccat")


def test_negation_order_matters() -> None:
    # the documented example: release branches, minus alphas
    patterns = compile_patterns(["releases/**", "!releases/**-alpha"])
    assert match_ordered(patterns, "releases/10")
    assert not match_ordered(patterns, "releases/10-alpha")
    # a later positive pattern includes again
    patterns = compile_patterns(
        ["sub-project/**", "!sub-project/docs/**", "sub-project/docs/keep.md"]
    )
    assert match_ordered(patterns, "sub-project/src/a.py")
    assert not match_ordered(patterns, "sub-project/docs/a.md")
    assert match_ordered(patterns, "sub-project/docs/keep.md")
    # only negative patterns select nothing
    assert not match_ordered(compile_patterns(["!main"]), "dev")


@pytest.mark.parametrize(
    ("pattern", "offset", "message"),
    [
        ("+abc", 0, "cannot follow the start of a pattern"),
        ("!?x", 1, "cannot follow the start of a pattern"),
        ("v*+", 2, "cannot follow a wildcard"),
        ("v[0-9", 1, "'[' without a matching ']'"),
        ("v[]", 1, "must list at least one character"),
        ("v[9-0]", 2, "invalid range 9-0"),
        ("v[a-Z]", 2, "invalid range a-Z"),
        ("", 0, "must not be empty"),
        ("!", 0, "must be followed by a pattern"),
    ],
)
def test_malformed_patterns(pattern: str, offset: int, message: str) -> None:
    with pytest.raises(FilterPatternError) as caught:
        compile_pattern(pattern)
    assert caught.value.offset == offset
    assert message in str(caught.value)
