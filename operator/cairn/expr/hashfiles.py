"""``hashFiles()``: one SHA-256 for the set of files that match glob patterns.

GitHub's definition (the runner's ``hashFiles`` script over ``@actions/glob``):

* patterns are relative to the workspace; several arguments (or lines) form
  one pattern list; a leading ``!`` excludes, and the last matching pattern
  decides; every pattern implicitly covers its descendants (``src`` means
  ``src/**`` too); dot-files match; ``*``, ``?``, ``[...]`` and ``**`` are the
  only glob syntax (no braces, no extglobs); ``.`` (except leading) and ``..``
  segments are invalid;
* matching files are visited depth first, each directory's entries in byte
  order of their names; symbolic links are not followed into directories;
* the result is the SHA-256 of the concatenated SHA-256 digests of the files,
  in that order, as hex; ``''`` when no file matches;
* only files inside the workspace count;
* a first argument ``--follow-symbolic-links`` makes the search follow
  links to directories.

Departures: a symbolic link whose target lies outside the workspace is skipped
(GitHub would hash the target), so a job cannot make the function read files
outside its workspace; and only regular files are hashed (a named pipe,
socket or device is skipped, where GitHub's runner would wait on it forever).

This is the only module of ``cairn.expr`` that touches the file system, and
only when an expression calls ``hashFiles`` with a workspace.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cairn.expr.errors import ExpressionEvaluationError

_GLOB_CHARS = frozenset("*?[")
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Pattern:
    negate: bool
    segments: tuple[str, ...]  # absolute: segments[0] == "" (the root)
    directory_only: bool  # written with a trailing "/": never matches a file
    implicit: bool  # the "<pattern>/**" added for implicit descendants

    def matches_file(self, parts: tuple[str, ...]) -> bool:
        if self.directory_only:
            return False
        if self.segments[-1] == "**" and not self.implicit:
            # @actions/glob appends a separator before matching a pattern that
            # ends in a globstar, so `dist/**` also matches a file named `dist`.
            parts = (*parts, "")
        return _match(self.segments, parts, 0, 0)

    def could_match_below(self, parts: tuple[str, ...]) -> bool:
        """Whether something under the directory ``parts`` may match."""
        segments = self.segments
        for i, part in enumerate(parts):
            if i >= len(segments):
                return False
            if segments[i] == "**":
                return True
            if not _segment_matches(segments[i], part):
                return False
        return True


def _match(segments: tuple[str, ...], parts: tuple[str, ...], i: int, j: int) -> bool:
    # Iterative globstar matching with single backtrack point (the classic
    # wildcard algorithm over segments): linear in practice, never recursive.
    star_i = -1
    star_j = 0
    while j < len(parts):
        if i < len(segments) and segments[i] == "**":
            star_i, star_j = i, j
            i += 1
        elif i < len(segments) and _segment_matches(segments[i], parts[j]):
            i += 1
            j += 1
        elif star_i >= 0:
            star_j += 1
            i, j = star_i + 1, star_j
        else:
            return False
    while i < len(segments) and segments[i] == "**":
        i += 1
    return i == len(segments)


@lru_cache(maxsize=1024)
def _segment_regex(segment: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    n = len(segment)
    while i < n:
        c = segment[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(segment[i]))
        elif c == "[":
            close = segment.find("]", i + 2 if i + 1 < n and segment[i + 1] in "!^" else i + 1)
            if close < 0:
                out.append(re.escape(c))
            else:
                body = segment[i + 1 : close]
                negated = body[:1] in ("!", "^")
                if negated:
                    body = body[1:]
                escaped = body.replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
                out.append(f"[{'^' if negated else ''}{escaped}]")
                i = close
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _segment_matches(segment: str, part: str) -> bool:
    if not _GLOB_CHARS.intersection(segment) and "\\" not in segment:
        return segment == part
    return _segment_regex(segment).fullmatch(part) is not None


def _literal(segment: str) -> str | None:
    """The literal text of a segment without glob characters, else None."""
    if _GLOB_CHARS.intersection(segment.replace("\\*", "").replace("\\?", "").replace("\\[", "")):
        return None
    return re.sub(r"\\(.)", r"\1", segment)


def _split(path: str) -> tuple[str, ...]:
    """``/a//b/`` -> ("", "a", "b"): absolute path segments."""
    return ("", *(p for p in path.split("/") if p))


def _parse_patterns(workspace: str, arguments: Sequence[str]) -> list[_Pattern]:
    root = _split(workspace)
    patterns: list[_Pattern] = []
    for argument in arguments:
        for raw_line in argument.split("\n"):
            line = raw_line.strip()
            if not line or line.startswith("#"):
                continue
            negate = False
            while line.startswith("!"):
                negate = not negate
                line = line[1:]
            if not line:
                raise ExpressionEvaluationError(
                    f"hashFiles(): invalid pattern '{raw_line.strip()}'"
                )
            if line.startswith("~"):
                # The home directory is never inside the workspace.
                continue
            directory_only = line.endswith("/")
            written = [p for p in line.split("/") if p]
            for index, segment in enumerate(written):
                if segment == ".." or (segment == "." and index > 0):
                    raise ExpressionEvaluationError(
                        f"hashFiles(): invalid pattern '{raw_line.strip()}': relative "
                        "segments '.' and '..' are not allowed"
                    )
            if written and written[0] == ".":
                written = written[1:]
            segments = (*(("",) if line.startswith("/") else root), *written)
            patterns.append(_Pattern(negate, segments, directory_only, False))
            if directory_only or segments[-1] != "**":
                patterns.append(_Pattern(negate, (*segments, "**"), False, True))
    return patterns


def _search_roots(patterns: list[_Pattern]) -> list[tuple[str, ...]]:
    roots: list[tuple[str, ...]] = []
    for pattern in patterns:
        if pattern.negate:
            continue
        prefix: list[str] = []
        for segment in pattern.segments:
            literal = _literal(segment)
            if literal is None or segment == "**":
                break
            prefix.append(literal)
        root = tuple(prefix)
        if root not in roots:
            roots.append(root)
    # Keep only roots that have no ancestor among the others, in pattern order.
    return [r for r in roots if not any(o != r and r[: len(o)] == o for o in roots)]


def _is_inside(path: str, directory: str) -> bool:
    return path.startswith(directory.rstrip("/") + "/")


def _digest(path: str) -> bytes | None:
    """The SHA-256 of a regular file; ``None`` for anything else (a named pipe,
    a socket, a device), whose reading could block forever or never end."""
    # O_NONBLOCK: opening a named pipe with no writer would otherwise wait
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        digest = hashlib.sha256()
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


#: GitHub's runner reads a first argument spelled so as an option.
FOLLOW_OPTION = "--follow-symbolic-links"


def hash_files(workspace: str | os.PathLike[str], arguments: Sequence[str]) -> str:
    """The ``hashFiles`` value of ``arguments`` (patterns) in ``workspace``.

    A first argument ``--follow-symbolic-links`` makes the search descend into
    linked directories (inside the workspace; cycles are cut, broken links
    skipped), as on GitHub."""
    base = os.path.abspath(os.fspath(workspace))
    if not os.path.isdir(base):
        raise ExpressionEvaluationError(f"hashFiles(): the workspace '{base}' is not a directory")
    follow = bool(arguments) and arguments[0] == FOLLOW_OPTION
    if follow:
        arguments = arguments[1:]
    real_base = os.path.realpath(base)
    patterns = _parse_patterns(base, arguments)
    base_parts = _split(base)
    includes = [p for p in patterns if not p.negate]
    total = hashlib.sha256()
    matched = 0

    for root in _search_roots(patterns):
        # Only the workspace matters: start there when the root is above it.
        if base_parts[: len(root)] == root:
            root = base_parts
        elif root[: len(base_parts)] != base_parts:
            continue
        start = "/" + "/".join(root[1:])
        try:
            os.lstat(start)
        except OSError:
            continue
        # (path, its segments, real paths of the directories above it)
        stack: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [(start, root, ())]
        while stack:
            path, parts, chain = stack.pop()
            try:
                mode = (os.stat if follow else os.lstat)(path).st_mode
            except OSError:
                continue  # vanished, or (when following) a broken link
            if stat.S_ISDIR(mode):
                if not any(p.could_match_below(parts) for p in includes):
                    continue
                real = os.path.realpath(path) if follow else path
                if follow and (
                    real in chain or not (real == real_base or _is_inside(real, real_base))
                ):
                    continue  # a link cycle, or a link out of the workspace
                try:
                    names = sorted(os.listdir(path), key=os.fsencode)
                except OSError as exc:
                    raise ExpressionEvaluationError(
                        f"hashFiles(): cannot list '{path}': {exc.strerror or exc}"
                    ) from None
                for name in reversed(names):
                    stack.append((os.path.join(path, name), (*parts, name), (*chain, real)))
                continue
            if not _file_selected(patterns, parts) or not _is_inside(path, base):
                continue
            target = os.path.realpath(path)
            if not os.path.exists(target):
                raise ExpressionEvaluationError(f"hashFiles(): '{path}' is a broken symbolic link")
            if os.path.isdir(target) or not _is_inside(target, real_base):
                continue
            try:
                digest = _digest(target)
            except OSError as exc:
                raise ExpressionEvaluationError(
                    f"hashFiles(): cannot read '{path}': {exc.strerror or exc}"
                ) from None
            if digest is None:
                continue
            total.update(digest)
            matched += 1
    return total.hexdigest() if matched else ""


def _file_selected(patterns: list[_Pattern], parts: tuple[str, ...]) -> bool:
    selected = False
    for pattern in patterns:
        if pattern.negate:
            if selected and pattern.matches_file(parts):
                selected = False
        elif not selected and pattern.matches_file(parts):
            selected = True
    return selected
