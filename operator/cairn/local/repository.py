"""What ``cairn run`` needs to know about the git repository it runs for:
the commit (HEAD), the ref, ``owner/name`` from the ``origin`` remote and the
actor from git's configuration. Read once per run with a few concurrent git
commands; a directory outside any repository still runs (without a commit,
``actions/checkout`` then fails with a message that says so).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cairn.local.errors import RepositoryError

DEFAULT_SERVER_URL = "https://github.com"

#: ``git@host:owner/name.git`` (scp-like syntax)
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")
#: ``scheme://[user[:password]@]host[:port]/owner/name.git``
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^@/]*@)?(?P<host>[^/:]+)(?::\d+)?/(?P<path>.+)$")


@dataclass(frozen=True)
class Repository:
    #: the work tree's top directory; None outside a repository
    root: Path | None
    #: HEAD's commit; "" without one (outside a repository, or before the first commit)
    sha: str
    #: ``refs/heads/<branch>``; "" when HEAD is detached
    ref: str
    default_branch: str
    #: ``owner/name``
    full_name: str
    server_url: str
    remote_url: str | None
    actor: str
    #: files with uncommitted changes (tracked or untracked): they are not part of the run
    changed_files: int = 0
    #: HEAD's commit: message, author name and e-mail, committer date (ISO 8601)
    head_message: str = ""
    head_author: tuple[str, str] = ("", "")
    head_timestamp: str = ""

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[-1]

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None


def parse_remote(url: str) -> tuple[str, str] | None:
    """(server URL, ``owner/name``) of a remote URL, or None for a plain path."""
    url = url.strip()
    match = _URL.match(url)
    if match is None and "://" not in url:
        match = _SCP_LIKE.match(url)
    if match is None:
        return None
    parts = [p for p in match["path"].split("/") if p]
    if len(parts) < 2:
        return None
    owner, name = parts[-2], parts[-1].removesuffix(".git")
    if not owner or not name:
        return None
    return f"https://{match['host']}", f"{owner}/{name}"


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    try:
        return subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
        )
    except OSError as exc:
        raise RepositoryError(f"git cannot be run: {exc.strerror or exc}") from None


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = process.communicate()
    return process.returncode, out


def _local_actor() -> str:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "local"


def discover_repository(start: Path) -> Repository:
    """The repository containing ``start`` (a directory)."""
    if not start.is_dir():
        raise RepositoryError(f"{start} is not a directory")
    code, out = _finish(_start(["rev-parse", "--show-toplevel"], start))
    if code != 0 or not out.strip():
        return Repository(
            root=None,
            sha="",
            ref="",
            default_branch="main",
            full_name=f"local/{start.resolve().name or 'workspace'}",
            server_url=DEFAULT_SERVER_URL,
            remote_url=None,
            actor=_local_actor(),
        )
    root = Path(out.strip())
    status = _start(["status", "--porcelain=v2", "--branch", "--untracked-files=normal"], root)
    config = _start(
        ["config", "--get-regexp", r"^(remote\.origin\.url|user\.name|github\.user)$"], root
    )
    origin_head = _start(["symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD"], root)
    head_log = _start(["log", "-1", "--format=%B%x00%an%x00%ae%x00%cI"], root)
    status_code, status_out = _finish(status)
    _, config_out = _finish(config)
    _, origin_out = _finish(origin_head)
    head_code, head_out = _finish(head_log)
    message, author, email, timestamp = "", "", "", ""
    if head_code == 0 and head_out.count("\0") == 3:
        message, author, email, timestamp = head_out.split("\0")
    if status_code != 0:
        raise RepositoryError(f"git status failed in {root}")

    sha, branch, changed = "", None, 0
    for line in status_out.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.removeprefix("# branch.oid ").strip()
            sha = "" if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.removeprefix("# branch.head ").strip()
            branch = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            changed += 1
    settings: dict[str, str] = {}
    for line in config_out.splitlines():
        key, _, value = line.partition(" ")
        settings[key.lower()] = value  # later (more local) configuration wins
    remote_url = settings.get("remote.origin.url")
    parsed = parse_remote(remote_url) if remote_url else None
    server_url, full_name = parsed or (DEFAULT_SERVER_URL, f"local/{root.name}")
    default_branch = origin_out.strip().removeprefix("origin/") or branch or "main"
    return Repository(
        root=root,
        sha=sha,
        ref=f"refs/heads/{branch}" if branch else "",
        default_branch=default_branch,
        full_name=full_name,
        server_url=server_url,
        remote_url=remote_url,
        actor=settings.get("github.user") or settings.get("user.name") or _local_actor(),
        changed_files=changed,
        head_message=message.strip(),
        head_author=(author, email),
        head_timestamp=timestamp.strip(),
    )
