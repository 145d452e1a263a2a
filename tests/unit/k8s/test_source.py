"""Resolving workflows: inline files, and real shallow fetches of local git repositories."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.k8s.resources import CIRunSpec, GitSource, InlineWorkflow
from cairn.k8s.settings import OperatorSettings
from cairn.k8s.source import (
    GitFetchError,
    InvalidSourceError,
    RepositoryTooLargeError,
    SourceLimits,
    SourceTimeoutError,
    WorkflowsNotFoundError,
    fetch_workflows,
    inline_workflows,
    redact,
    resolve_workflows,
    transport_of,
)

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Cairn Test",
    "GIT_AUTHOR_EMAIL": "test@cairn.invalid",
    "GIT_COMMITTER_NAME": "Cairn Test",
    "GIT_COMMITTER_EMAIL": "test@cairn.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
LOCAL = SourceLimits(timeout_seconds=30, allowed_protocols=("file",))

CI = """name: CI
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: make test
"""
RELEASE = """name: Release
on:
  push:
    tags: ['v*']
jobs:
  release:
    runs-on: ubuntu-latest
    steps: [{run: make release}]
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=GIT_ENV, capture_output=True, check=True, text=True
    )
    return done.stdout.strip()


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()
        git(path, "init", "-q", "-b", "main")

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def commit(self, files: dict[str, str | bytes | None], message: str = "change") -> str:
        for name, content in files.items():
            target = self.path / name
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", message)
        return git(self.path, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "origin")


def source(repo: Repo, sha: str, **kwargs: str) -> GitSource:
    return GitSource(repo=repo.url, sha=sha, **kwargs)


def test_reads_the_workflows_of_the_commit_asked_for(repo: Repo, tmp_path: Path) -> None:
    first = repo.commit(
        {
            ".github/workflows/ci.yml": CI,
            ".github/workflows/release.yaml": RELEASE,
            ".github/workflows/README.md": "not a workflow",
            ".github/workflows/old/legacy.yml": "GitHub does not read subdirectories",
            "src/app.py": "print('hi')\n",
        }
    )
    repo.commit({".github/workflows/ci.yml": CI.replace("make test", "make check")})
    # The first commit is no longer the tip: it is fetched by its sha alone.
    files = fetch_workflows(source(repo, first), LOCAL, workdir=tmp_path)
    assert [(f.name, f.path) for f in files] == [
        ("ci.yml", ".github/workflows/ci.yml"),
        ("release.yaml", ".github/workflows/release.yaml"),
    ]
    assert files[0].content == CI
    # Nothing is left behind in the work directory.
    assert [p.name for p in tmp_path.iterdir()] == ["origin"]


def test_custom_path_and_single_file_path(repo: Repo) -> None:
    sha = repo.commit({"ci/pipelines/build.yml": CI, "ci/pipelines/notes.txt": "x"})
    assert [f.name for f in fetch_workflows(source(repo, sha, path="ci/pipelines"), LOCAL)] == [
        "build.yml"
    ]
    single = fetch_workflows(source(repo, sha, path="ci/pipelines/build.yml"), LOCAL)
    assert [(f.name, f.content) for f in single] == [("build.yml", CI)]


def test_missing_workflows_are_a_clear_error(repo: Repo) -> None:
    sha = repo.commit({"README.md": "no workflows here"})
    with pytest.raises(WorkflowsNotFoundError, match=r"no \.github/workflows at"):
        fetch_workflows(source(repo, sha), LOCAL)
    sha = repo.commit({".github/workflows/notes.md": "still none"})
    with pytest.raises(WorkflowsNotFoundError, match=r"no \.yml or \.yaml workflow files"):
        fetch_workflows(source(repo, sha), LOCAL)


def test_unknown_commit_is_a_fetch_error(repo: Repo) -> None:
    repo.commit({".github/workflows/ci.yml": CI})
    with pytest.raises(GitFetchError, match="cannot fetch commit 0123456789"):
        fetch_workflows(source(repo, "0123456789" * 4), LOCAL)


def test_file_transport_is_refused_unless_allowed(repo: Repo) -> None:
    sha = repo.commit({".github/workflows/ci.yml": CI})
    with pytest.raises(InvalidSourceError, match="file transport, which is not allowed"):
        fetch_workflows(source(repo, sha), SourceLimits())
    # A bare path is the file transport too, as is an ext:: command.
    bare = GitSource(repo=str(repo.path), sha=sha)
    with pytest.raises(InvalidSourceError, match="file transport"):
        fetch_workflows(bare, SourceLimits())
    with pytest.raises(InvalidSourceError, match="ext transport"):
        fetch_workflows(GitSource(repo="ext::sh -c evil", sha=sha), SourceLimits())


def test_option_injection_and_escaping_paths_are_refused(repo: Repo) -> None:
    sha = repo.commit({".github/workflows/ci.yml": CI})
    with pytest.raises(InvalidSourceError, match="must not start with '-'"):
        fetch_workflows(GitSource(repo="--upload-pack=touch /tmp/x", sha=sha), LOCAL)
    for path in ("../outside", "/etc"):
        with pytest.raises(InvalidSourceError, match="inside the repository"):
            fetch_workflows(source(repo, sha, path=path), LOCAL)


def test_a_symlinked_workflow_is_refused_never_followed(repo: Repo) -> None:
    repo.commit({".github/workflows/ci.yml": CI})
    (repo.path / ".github/workflows/evil.yml").symlink_to("/etc/passwd")
    git(repo.path, "add", "-A")
    git(repo.path, "commit", "-q", "-m", "link")
    sha = git(repo.path, "rev-parse", "HEAD")
    with pytest.raises(InvalidSourceError, match=r"evil\.yml .* symbolic link"):
        fetch_workflows(source(repo, sha), LOCAL)


def test_a_repository_over_the_size_limit_is_stopped(repo: Repo, tmp_path: Path) -> None:
    sha = repo.commit(
        {".github/workflows/ci.yml": CI, "assets/blob.bin": os.urandom(3 * 1024 * 1024)}
    )
    limits = SourceLimits(
        timeout_seconds=30, max_repo_bytes=1024 * 1024, allowed_protocols=("file",)
    )
    with pytest.raises(RepositoryTooLargeError, match="over the 1048576-byte limit"):
        fetch_workflows(source(repo, sha), limits, workdir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["origin"]


def test_a_workflow_file_over_its_limit_is_refused(repo: Repo) -> None:
    sha = repo.commit({".github/workflows/ci.yml": CI + "# padding\n" * 200})
    limits = SourceLimits(timeout_seconds=30, max_workflow_bytes=1000, allowed_protocols=("file",))
    with pytest.raises(RepositoryTooLargeError, match=r"ci\.yml is 2\d{3} bytes"):
        fetch_workflows(source(repo, sha), limits)


def test_a_workflow_that_is_not_utf8_is_refused(repo: Repo) -> None:
    sha = repo.commit({".github/workflows/ci.yml": b"name: \xff\xfe\n"})
    with pytest.raises(InvalidSourceError, match="not UTF-8"):
        fetch_workflows(source(repo, sha), LOCAL)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a hung git server."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_a_hanging_server_hits_the_time_limit(silent_server: int) -> None:
    limits = SourceLimits(timeout_seconds=0.5, allowed_protocols=("git",))
    hung = GitSource(repo=f"git://127.0.0.1:{silent_server}/app.git", sha="a" * 40)
    with pytest.raises(SourceTimeoutError, match=r"longer than 0\.5 s"):
        fetch_workflows(hung, limits)


def test_credentials_never_appear_in_errors(silent_server: int) -> None:
    # Nothing listens on the http port once the socket is closed; git fails fast.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    url = f"http://ci-bot:s3cr3t-t0ken@127.0.0.1:{port}/acme/app.git"
    limits = SourceLimits(timeout_seconds=20, allowed_protocols=("http",))
    with pytest.raises(GitFetchError) as caught:
        fetch_workflows(GitSource(repo=url, sha="b" * 40), limits)
    assert "s3cr3t" not in str(caught.value)
    assert "http://***@127.0.0.1" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://x-access-token:ghs_abc@github.com/o/r.git", "https://***@github.com/o/r.git"),
        (
            "fatal: unable to access 'https://u:p@h/r/'",
            "fatal: unable to access 'https://***@h/r/'",
        ),
        ("ssh://git@github.com/o/r.git", "ssh://***@github.com/o/r.git"),
        ("https://github.com/o/r.git", "https://github.com/o/r.git"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("url", "transport"),
    [
        ("https://github.com/o/r.git", "https"),
        ("git@github.com:o/r.git", "ssh"),
        ("ssh://git@github.com/o/r.git", "ssh"),
        ("git://example.org/r.git", "git"),
        ("file:///srv/r.git", "file"),
        ("/srv/r.git", "file"),
        ("ext::ssh -o x %S", "ext"),
        ("persistent-https::https://example.org/r", "persistent-https"),
    ],
)
def test_transport_of(url: str, transport: str) -> None:
    assert transport_of(url) == transport


def test_inline_workflows_are_checked_and_sorted() -> None:
    files = inline_workflows(
        (InlineWorkflow(name="z.yaml", content=RELEASE), InlineWorkflow(name="ci.yml", content=CI)),
        SourceLimits(),
    )
    assert [(f.name, f.path) for f in files] == [
        ("ci.yml", "inline:ci.yml"),
        ("z.yaml", "inline:z.yaml"),
    ]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["ci.yml", "ci.yml"], "given twice"),
        ([".github/workflows/ci.yml"], "not a path"),
        (["ci.json"], "end in .yml or .yaml"),
    ],
)
def test_bad_inline_workflows_are_refused(names: list[str], message: str) -> None:
    with pytest.raises(InvalidSourceError, match=message):
        inline_workflows(tuple(InlineWorkflow(name=n, content=CI) for n in names), SourceLimits())


def test_an_oversized_inline_workflow_is_refused() -> None:
    with pytest.raises(RepositoryTooLargeError, match=r"inline workflow 'ci\.yml'"):
        inline_workflows(
            (InlineWorkflow(name="ci.yml", content="#" * 2000),),
            SourceLimits(max_workflow_bytes=1000),
        )


def test_resolve_dispatches_on_the_run_spec(repo: Repo) -> None:
    sha = repo.commit({".github/workflows/ci.yml": CI})
    from_git = resolve_workflows(CIRunSpec(source=source(repo, sha)), LOCAL)
    inline = resolve_workflows(
        CIRunSpec(workflows=(InlineWorkflow(name="ci.yml", content=CI),)), LOCAL
    )
    assert [f.content for f in from_git] == [f.content for f in inline] == [CI]


def test_limits_come_from_settings() -> None:
    settings = OperatorSettings(git_timeout_seconds=7, git_allowed_protocols=("https",))
    limits = SourceLimits.from_settings(settings)
    assert limits.timeout_seconds == 7 and limits.allowed_protocols == ("https",)
