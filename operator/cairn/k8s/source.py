"""Resolving a CIRun's workflow files: inline, or from a git repository at a commit.

A git source is fetched shallowly (one commit, ``--depth 1``) into a fresh
bare repository in a temporary directory, then the workflow files are read
straight from the object database (``ls-tree`` + ``cat-file``); the tree is
never checked out. Reading blobs means a symlink in the repository cannot
point the operator at its own files, and a huge working tree is never
written. Bounds, because a CIRun may name any repository:

- **time**: one deadline for the whole resolution; every git process runs in
  its own process group, killed as a whole when the deadline passes;
- **size**: the fetched pack is a single file (``fetch.unpackLimit=1``) and
  git runs under ``prlimit --fsize``, so the kernel stops it at the limit;
  the repository's total size is checked again after the fetch, and each
  workflow file has its own (smaller) limit;
- **reach**: only the allowed transports (``GIT_ALLOW_PROTOCOL``; not
  ``file`` by default), no credential helpers, no prompts, no user or system
  git configuration;
- **secrecy**: credentials in a URL (``https://user:token@host``) are
  redacted from every message.

This runs git processes and blocks: call it from a worker thread
(``asyncio.to_thread``) in the operator.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cairn.errors import CairnError
from cairn.k8s.resources import CIRunSpec, GitSource, InlineWorkflow
from cairn.k8s.settings import OperatorSettings

WORKFLOW_SUFFIXES = (".yml", ".yaml")
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
_SCP_LIKE = re.compile(r"^[^/:@]+@[^/:]+:")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
#: ``<transport>::<address>``: git's remote-helper syntax (``ext::``, ``fd::``)
_HELPER = re.compile(r"^(?P<helper>[A-Za-z][A-Za-z0-9+.-]*)::")
_LS_TREE_ENTRY = re.compile(
    r"^(?P<mode>\d{6}) (?P<type>\w+) (?P<oid>[0-9a-f]+) +(?P<size>\d+|-)\t(?P<name>.*)$", re.S
)


class SourceError(CairnError):
    """The workflows of a CIRun could not be resolved."""


class InvalidSourceError(SourceError):
    """A source that is malformed or not allowed (transport, path, file names)."""


class GitFetchError(SourceError):
    """git could not fetch the commit (unreachable, unknown commit, no access)."""


class SourceTimeoutError(SourceError):
    """Resolving the source took longer than its time limit."""


class RepositoryTooLargeError(SourceError):
    """The fetched repository, or a workflow file in it, is over its size limit."""


class WorkflowsNotFoundError(SourceError):
    """The commit has no workflow files where the source says they are."""


@dataclass(frozen=True)
class WorkflowFile:
    #: the file name (``ci.yml``)
    name: str
    #: where the file is: its path in the repository, or ``inline:<name>``
    path: str
    content: str


@dataclass(frozen=True)
class SourceLimits:
    timeout_seconds: float = 120.0
    max_repo_bytes: int = 512 * 1024 * 1024
    max_workflow_bytes: int = 1024 * 1024
    allowed_protocols: tuple[str, ...] = ("https", "ssh", "git")

    @classmethod
    def from_settings(cls, settings: OperatorSettings) -> SourceLimits:
        return cls(
            timeout_seconds=settings.git_timeout_seconds,
            max_repo_bytes=settings.git_max_repo_bytes,
            max_workflow_bytes=settings.git_max_workflow_bytes,
            allowed_protocols=settings.git_allowed_protocols,
        )


def resolve_workflows(
    spec: CIRunSpec, limits: SourceLimits, *, workdir: Path | None = None
) -> list[WorkflowFile]:
    """The workflow files of a run, sorted by name."""
    if spec.source is not None:
        return fetch_workflows(spec.source, limits, workdir=workdir)
    return inline_workflows(spec.workflows, limits)


def inline_workflows(
    workflows: tuple[InlineWorkflow, ...], limits: SourceLimits
) -> list[WorkflowFile]:
    files: dict[str, WorkflowFile] = {}
    for workflow in workflows:
        name = workflow.name
        if "/" in name or "\\" in name or name in (".", ".."):
            raise InvalidSourceError(
                f"inline workflow {name!r}: give a file name (ci.yml), not a path"
            )
        if not name.endswith(WORKFLOW_SUFFIXES):
            raise InvalidSourceError(
                f"inline workflow {name!r}: workflow files end in .yml or .yaml"
            )
        if name in files:
            raise InvalidSourceError(f"inline workflow {name!r} is given twice")
        size = len(workflow.content.encode())
        if size > limits.max_workflow_bytes:
            raise RepositoryTooLargeError(
                f"inline workflow {name!r} is {size} bytes, over the "
                f"{limits.max_workflow_bytes}-byte limit"
            )
        files[name] = WorkflowFile(name=name, path=f"inline:{name}", content=workflow.content)
    return [files[name] for name in sorted(files)]


def redact(text: str) -> str:
    """``text`` with the credentials of any URL in it replaced by ``***``."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}***@", text)


def transport_of(url: str) -> str:
    """The git transport a clone URL uses (``https``, ``ssh``, ``file``...)."""
    helper = _HELPER.match(url)
    if helper:
        return helper["helper"].lower()
    match = _SCHEME.match(url)
    if match:
        return match["scheme"].lower()
    if _SCP_LIKE.match(url):
        return "ssh"  # git@github.com:owner/repo.git
    return "file"  # a bare local path


def fetch_workflows(
    source: GitSource, limits: SourceLimits, *, workdir: Path | None = None
) -> list[WorkflowFile]:
    """The workflow files under ``source.path`` at ``source.sha``."""
    shown = redact(source.repo)
    if source.repo.startswith("-"):
        raise InvalidSourceError(f"repository URL {shown!r} must not start with '-'")
    transport = transport_of(source.repo)
    if transport not in limits.allowed_protocols:
        raise InvalidSourceError(
            f"repository {shown!r} uses the {transport} transport, which is not allowed "
            f"(allowed: {', '.join(limits.allowed_protocols) or 'none'})"
        )
    path = _repository_path(source.path)
    git = _Git(limits, time.monotonic() + limits.timeout_seconds, shown)
    directory = Path(tempfile.mkdtemp(prefix="cairn-source-", dir=workdir))
    try:
        object_format = "sha256" if len(source.sha) == 64 else "sha1"
        git.run(directory, "init", "-q", "--bare", f"--object-format={object_format}", ".")
        git.fetch(directory, source.repo, source.sha)
        _check_repository_size(directory, limits, shown)
        return _read_workflows(git, directory, source.sha, path, limits, shown)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _repository_path(raw: str) -> str:
    path = PurePosixPath(raw.strip() or ".")
    if path.is_absolute() or ".." in path.parts:
        raise InvalidSourceError(f"source.path {raw!r} must be relative and inside the repository")
    text = str(path)
    return "" if text == "." else text


def _check_repository_size(directory: Path, limits: SourceLimits, shown: str) -> None:
    total = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
    if total > limits.max_repo_bytes:
        raise RepositoryTooLargeError(
            f"repository {shown!r} is {total} bytes at this commit, over the "
            f"{limits.max_repo_bytes}-byte limit"
        )


def _read_workflows(
    git: _Git, directory: Path, sha: str, path: str, limits: SourceLimits, shown: str
) -> list[WorkflowFile]:
    where = f"{path or '(repository root)'} at {sha[:12]} of {shown!r}"
    kind = git.run(directory, "cat-file", "-t", f"{sha}:{path}", check=False)
    if kind.returncode != 0:
        raise WorkflowsNotFoundError(f"no {where}")
    entries: list[tuple[str, str, str, int]] = []  # (name, repo path, oid, size)
    if kind.stdout.strip() == b"blob":
        size = int(git.run(directory, "cat-file", "-s", f"{sha}:{path}").stdout)
        oid = git.run(directory, "rev-parse", f"{sha}:{path}").stdout.decode().strip()
        entries.append((PurePosixPath(path).name, path, oid, size))
    else:
        listing = git.run(directory, "ls-tree", "-z", "--long", f"{sha}:{path}").stdout
        for raw in listing.decode("utf-8", "surrogateescape").split("\0"):
            match = _LS_TREE_ENTRY.match(raw)
            if match is None or not match["name"].endswith(WORKFLOW_SUFFIXES):
                continue
            repo_path = f"{path}/{match['name']}" if path else match["name"]
            if match["mode"] == "120000":
                raise InvalidSourceError(
                    f"{repo_path} in {shown!r} is a symbolic link; workflow files must be "
                    "regular files"
                )
            if match["type"] != "blob":
                continue
            entries.append((match["name"], repo_path, match["oid"], int(match["size"])))
    if not entries:
        raise WorkflowsNotFoundError(f"no .yml or .yaml workflow files in {where}")
    for _, repo_path, _, size in entries:
        if size > limits.max_workflow_bytes:
            raise RepositoryTooLargeError(
                f"workflow file {repo_path} is {size} bytes, over the "
                f"{limits.max_workflow_bytes}-byte limit"
            )
    contents = git.blobs(directory, [oid for _, _, oid, _ in entries])
    files = []
    for (name, repo_path, _, _), content in zip(entries, contents, strict=True):
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidSourceError(f"workflow file {repo_path} is not UTF-8 text") from None
        files.append(WorkflowFile(name=name, path=repo_path, content=text))
    return sorted(files, key=lambda f: f.name)


class _Git:
    """git processes under one deadline, without ambient configuration."""

    def __init__(self, limits: SourceLimits, deadline: float, shown: str) -> None:
        self._limits = limits
        self._deadline = deadline
        self._shown = shown
        self._git = shutil.which("git")
        if self._git is None:
            raise SourceError("git is not installed; it is needed to resolve git sources")

    def _environment(self, directory: Path) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(directory),
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
            "GIT_ALLOW_PROTOCOL": ":".join(self._limits.allowed_protocols),
        }

    def run(
        self,
        directory: Path,
        *args: str,
        check: bool = True,
        stdin: bytes | None = None,
        prefix: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[bytes]:
        assert self._git is not None
        command = [*prefix, self._git, "-C", str(directory), *args]
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise self._timeout()
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._environment(directory),
            start_new_session=True,  # its own process group: kill helpers too
        )
        try:
            stdout, stderr = process.communicate(stdin, timeout=remaining)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise self._timeout() from None
        result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        if check and result.returncode != 0:
            raise GitFetchError(
                f"git {args[0]} failed for {self._shown!r}: {self._stderr(result.stderr)}"
            )
        return result

    def fetch(self, directory: Path, url: str, sha: str) -> None:
        prlimit = shutil.which("prlimit")
        if prlimit is None:
            raise SourceError("prlimit (util-linux) is needed to bound the size of git fetches")
        result = self.run(
            directory,
            "-c",
            "fetch.unpackLimit=1",
            "-c",
            "transfer.unpackLimit=1",
            "-c",
            "credential.helper=",
            "fetch",
            "--quiet",
            "--depth=1",
            "--no-tags",
            "--no-recurse-submodules",
            "--",
            url,
            sha,
            check=False,
            prefix=(prlimit, f"--fsize={self._limits.max_repo_bytes}", "--"),
        )
        if result.returncode == 0:
            return
        if _any_file_at_least(directory, self._limits.max_repo_bytes):
            raise RepositoryTooLargeError(
                f"repository {self._shown!r} is over the {self._limits.max_repo_bytes}-byte "
                "limit at this commit"
            )
        raise GitFetchError(
            f"cannot fetch commit {sha} from {self._shown!r}: {self._stderr(result.stderr)}"
        )

    def blobs(self, directory: Path, oids: list[str]) -> list[bytes]:
        """The contents of ``oids``, read in one ``cat-file --batch``."""
        request = "".join(f"{oid}\n" for oid in oids).encode()
        result = self.run(directory, "cat-file", "--batch", stdin=request)
        out: list[bytes] = []
        position = 0
        data = result.stdout
        for oid in oids:
            header_end = data.index(b"\n", position)
            header = data[position:header_end].decode().split()
            if len(header) != 3 or header[0] != oid or header[1] != "blob":
                raise GitFetchError(f"git cat-file returned {header!r} for {oid}")
            size = int(header[2])
            out.append(data[header_end + 1 : header_end + 1 + size])
            position = header_end + 1 + size + 1
        return out

    def _timeout(self) -> SourceTimeoutError:
        return SourceTimeoutError(
            f"resolving {self._shown!r} took longer than {self._limits.timeout_seconds:g} s"
        )

    @staticmethod
    def _stderr(raw: bytes) -> str:
        lines = [line.strip() for line in raw.decode(errors="replace").splitlines() if line.strip()]
        return redact(" / ".join(lines[-3:])) or "no error output"


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def _any_file_at_least(directory: Path, size: int) -> bool:
    return any(f.is_file() and f.stat().st_size >= size for f in directory.rglob("*"))
