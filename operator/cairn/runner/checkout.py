"""``uses: actions/checkout@<any ref>``: a real git checkout of the run's
repository into the workspace.

Cairn does not run JavaScript actions; this re-implements what
actions/checkout does for the run's own repository with the git CLI:
``path``, ``ref``, ``fetch-depth`` (1 by default, 0 for all history and
tags), ``fetch-tags`` and ``clean``. Inputs that need something Cairn does not
do (another repository, LFS, submodules, sparse checkout) fail the step;
authentication inputs have no effect because the runner fetches from the
source it was given (a clone URL that already carries its credentials, or a
local path).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cairn.runner.errors import CheckoutError, UnsupportedFeatureError

#: inputs of actions/checkout (v4) that Cairn honours
_HONOURED = ("repository", "ref", "path", "clean", "fetch-depth", "fetch-tags")
#: accepted, without effect: see the module docstring
_NO_EFFECT = (
    "token",
    "ssh-key",
    "ssh-known-hosts",
    "ssh-strict",
    "ssh-user",
    "persist-credentials",
    "show-progress",
    "set-safe-directory",
    "github-server-url",
    "sparse-checkout-cone-mode",
)
#: refused when set ("not supported yet")
_UNSUPPORTED = ("filter", "sparse-checkout", "lfs", "submodules")
KNOWN_INPUTS = (*_HONOURED, *_NO_EFFECT, *_UNSUPPORTED)
_SHA = re.compile(r"^[0-9a-fA-F]{40}$|^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class CheckoutSource:
    """Where the run's repository comes from: a clone URL or a local path,
    and the commit (and ref, ``refs/heads/main``) the run is for."""

    url: str
    sha: str
    ref: str | None = None

    def fetch_url(self) -> str:
        path = Path(self.url)
        if "://" not in self.url and ":" not in self.url.split("/")[0] and path.exists():
            return str(path.resolve())
        return self.url


#: runs ``git <args>`` in a directory; returns the exit code and output lines
GitRunner = Callable[[list[str], Path], Awaitable[tuple[int, list[str]]]]


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().upper() == "TRUE"


def _fetch_depth(value: str | None) -> int:
    # actions/checkout: Math.floor(Number(input || '1')), NaN or < 0 means 0
    if value is None or not value.strip():
        return 1
    try:
        depth = int(float(value))
    except ValueError:
        return 0
    return max(depth, 0)


@dataclass(frozen=True)
class _Target:
    """What to check out: ``kind`` is branch, tag, sha, pull, ref or name."""

    kind: str
    name: str  # branch/tag name, or the full ref
    sha: str | None


def _target(ref_input: str, source: CheckoutSource) -> _Target:
    if not ref_input:
        ref = source.ref or ""
        sha = source.sha
    else:
        ref, sha = ref_input, ""
    if _SHA.match(ref):
        return _Target("sha", ref, ref)
    sha_or_none = sha or None
    if ref.startswith("refs/heads/"):
        return _Target("branch", ref.removeprefix("refs/heads/"), sha_or_none)
    if ref.startswith("refs/tags/"):
        return _Target("tag", ref.removeprefix("refs/tags/"), sha_or_none)
    if ref.startswith("refs/pull/"):
        return _Target("pull", ref, sha_or_none)
    if ref.startswith("refs/"):
        return _Target("ref", ref, sha_or_none)
    if not ref:
        if not sha:
            raise CheckoutError("the run has neither a ref nor a sha to check out")
        return _Target("sha", sha, sha)
    return _Target("name", ref, sha_or_none)


class Checkout:
    def __init__(
        self,
        source: CheckoutSource,
        inputs: Mapping[str, str],
        *,
        workspace: Path,
        repository: str | None,
        git: GitRunner,
        info: Callable[[str], None],
        warn: Callable[[str], None],
    ) -> None:
        self.source = source
        self.inputs = dict(inputs)
        self.workspace = workspace
        self.repository = repository
        self.git = git
        self.info = info
        self.warn = warn

    def _check_inputs(self) -> None:
        unexpected = [k for k in self.inputs if k not in KNOWN_INPUTS]
        if unexpected:
            self.warn(
                f"Unexpected input(s) {', '.join(repr(k) for k in unexpected)}, "
                f"valid inputs are [{', '.join(repr(k) for k in KNOWN_INPUTS)}]"
            )
        repo = self.inputs.get("repository", "").strip()
        if repo and self.repository and repo.lower() != self.repository.lower():
            raise UnsupportedFeatureError(
                f"actions/checkout of another repository ({repo}) is not supported yet; "
                f"only the run's repository ({self.repository}) can be checked out"
            )
        if _flag(self.inputs.get("lfs"), False):
            raise UnsupportedFeatureError("actions/checkout with 'lfs: true' is not supported yet")
        submodules = self.inputs.get("submodules", "").strip().lower()
        if submodules in ("true", "recursive"):
            raise UnsupportedFeatureError(
                f"actions/checkout with 'submodules: {submodules}' is not supported yet"
            )
        for name in ("filter", "sparse-checkout"):
            if self.inputs.get(name, "").strip():
                raise UnsupportedFeatureError(
                    f"actions/checkout with '{name}' is not supported yet"
                )
        for name in _NO_EFFECT:
            if self.inputs.get(name, "").strip():
                self.info(
                    f"Input '{name}' has no effect: Cairn fetches from the source the "
                    "runner was given"
                )

    def _path(self) -> Path:
        relative = self.inputs.get("path", "").strip()
        root = self.workspace.resolve()
        target = (root / relative).resolve() if relative else root
        if target != root and root not in target.parents:
            raise CheckoutError(f"Repository path '{target}' is not under '{root}'")
        return target

    async def _run(self, args: list[str], cwd: Path, *, check: bool = True) -> list[str]:
        code, lines = await self.git(args, cwd)
        if check and code != 0:
            tail = "; ".join(lines[-3:]) if lines else "no output"
            raise CheckoutError(f"git {' '.join(args)} failed with exit code {code}: {tail}")
        return lines if code == 0 else []

    async def _prepare(self, target: Path, url: str, clean: bool) -> None:
        if (target / ".git").exists():
            origin = await self._run(["config", "--get", "remote.origin.url"], target, check=False)
            if origin and origin[0].strip() == url:
                if not clean:
                    return
                code, _ = await self.git(["clean", "-ffdx"], target)
                if code == 0:
                    code, _ = await self.git(["reset", "--hard", "HEAD"], target)
                if code == 0:
                    return
                self.info("Unable to clean or reset the repository; it will be recreated")
        if target.exists() and any(target.iterdir()):
            self.info(f"Deleting the contents of '{target}'")
            for entry in target.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        target.mkdir(parents=True, exist_ok=True)
        await self._run(["init", "--quiet", str(target)], target)
        await self._run(["remote", "add", "origin", url], target)

    def _refspecs(self, target: _Target) -> list[str]:
        t = target
        if t.kind == "sha":
            return [t.name]
        if t.kind == "branch":
            src = t.sha or f"refs/heads/{t.name}"
            return [f"+{src}:refs/remotes/origin/{t.name}"]
        if t.kind == "tag":
            src = t.sha or f"refs/tags/{t.name}"
            return [f"+{src}:refs/tags/{t.name}"]
        if t.kind == "pull":
            local = t.name.replace("refs/pull/", "refs/remotes/pull/", 1)
            return [f"+{t.sha or t.name}:{local}"]
        if t.kind == "ref":
            return [f"+{t.sha or t.name}:{t.name}"]
        # a short name: a branch or a tag, whichever exists
        return [
            f"+refs/heads/{t.name}*:refs/remotes/origin/{t.name}*",
            f"+refs/tags/{t.name}*:refs/tags/{t.name}*",
        ]

    async def _has_commit(self, cwd: Path, rev: str) -> bool:
        code, _ = await self.git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd)
        return code == 0

    async def _fetch(self, cwd: Path, target: _Target, depth: int, tags: bool) -> None:
        # a local source must serve commits that are not branch tips
        base = ["-c", "uploadpack.allowAnySHA1InWant=true", "-c", "protocol.version=2", "fetch"]
        base += ["--prune", "--no-recurse-submodules"]
        if depth > 0:
            args = [*base, f"--depth={depth}"]
            if not tags:
                args.append("--no-tags")
            # a short name that matches nothing fails here; _switch says so
            await self._run(
                [*args, "origin", *self._refspecs(target)], cwd, check=target.kind != "name"
            )
            return
        shallow = await self._run(["rev-parse", "--is-shallow-repository"], cwd, check=False)
        args = [*base, "--tags"]
        if shallow and shallow[0].strip() == "true":
            args.append("--unshallow")
        await self._run(
            [*args, "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"],
            cwd,
        )
        if target.kind in ("sha", "pull", "ref") or (
            target.sha and not await self._has_commit(cwd, target.sha)
        ):
            await self._run([*base, "origin", *self._refspecs(target)], cwd)

    async def _switch(self, cwd: Path, target: _Target) -> None:
        checkout = ["-c", "advice.detachedHead=false", "checkout", "--force", "--quiet"]
        kind, name = target.kind, target.name
        if kind == "name":
            if await self._has_commit(cwd, f"refs/remotes/origin/{name}"):
                kind = "branch"
            elif await self._has_commit(cwd, f"refs/tags/{name}"):
                kind = "tag"
            else:
                raise CheckoutError(f"A branch or tag with the name '{name}' could not be found")
        if kind == "branch":
            await self._run([*checkout, "-B", name, f"refs/remotes/origin/{name}"], cwd)
        elif kind == "tag":
            await self._run([*checkout, f"refs/tags/{name}"], cwd)
        elif kind == "pull":
            await self._run([*checkout, name.replace("refs/pull/", "refs/remotes/pull/", 1)], cwd)
        elif kind == "ref":
            await self._run([*checkout, name], cwd)
        else:
            await self._run([*checkout, name], cwd)

    async def run(self) -> Path:
        """Check out and return the repository's directory."""
        self._check_inputs()
        target_dir = self._path()
        target = _target(self.inputs.get("ref", "").strip(), self.source)
        depth = _fetch_depth(self.inputs.get("fetch-depth"))
        tags = _flag(self.inputs.get("fetch-tags"), False)
        clean = _flag(self.inputs.get("clean"), True)
        url = self.source.fetch_url()
        self.info(f"Syncing repository: {self.repository or url}")
        await self._prepare(target_dir, url, clean)
        await self._fetch(target_dir, target, depth, tags)
        await self._switch(target_dir, target)
        head = await self._run(["log", "-1", "--format=%H %s"], target_dir)
        if head:
            self.info(f"HEAD is now at {head[0]}")
        return target_dir
