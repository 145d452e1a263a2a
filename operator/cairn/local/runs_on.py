"""Which jobs this machine can run: ``runs-on`` labels against the host.

``cairn run`` is one self-hosted runner, this machine, that takes every job.
Labels that only name a runner (``self-hosted``, ``gpu``, a group) are
accepted as they are. Labels that name an operating system or a CPU
architecture are checked: a job for ``windows-latest`` or ``macos-14`` on a
Linux machine would run with the wrong shells, paths and tools and could pass
for the wrong reasons, so it fails with a message saying so instead.
Linux labels (``ubuntu-latest``, ``linux``) run on any host, the way
``act -P ubuntu-latest=-self-hosted`` runs them: most workflows ask for
Ubuntu, and their shell steps usually run on macOS too.
"""

from __future__ import annotations

from collections.abc import Iterable

from cairn.runner.environment import runner_arch, runner_os

#: the ``RUNNER_ARCH`` a label names (self-hosted labels, hosted ``-arm`` images)
_ARCH_LABELS = {"x64": "X64", "x86": "X86", "arm64": "ARM64", "arm": "ARM"}


def _os_of(label: str) -> str | None:
    name = label.lower()
    if name.startswith("windows"):
        return "Windows"
    if name.startswith("macos"):
        return "macOS"
    if name.startswith("ubuntu") or name == "linux":
        return "Linux"
    return None


def _arch_of(label: str) -> str | None:
    name = label.lower()
    if name in _ARCH_LABELS:
        return _ARCH_LABELS[name]
    if _os_of(name) is not None and name.endswith("-arm"):
        # GitHub's hosted Arm images: ubuntu-24.04-arm, windows-11-arm
        return "ARM64"
    return None


def platform_problem(
    labels: Iterable[str], *, host_os: str | None = None, host_arch: str | None = None
) -> str | None:
    """Why this machine cannot run a job with ``labels``, or None when it can."""
    labels = tuple(labels)
    host_os = host_os or runner_os()
    host_arch = host_arch or runner_arch()
    for label in labels:
        wanted = _os_of(label)
        if wanted is not None and wanted != "Linux" and wanted != host_os:
            return (
                f"runs-on {label!r} needs a {wanted} runner; cairn run runs jobs on this "
                f"machine ({host_os}), and other platforms are not supported yet"
            )
        arch = _arch_of(label)
        if arch is not None and arch != host_arch:
            return (
                f"runs-on {label!r} needs an {arch} runner; cairn run runs jobs on this "
                f"machine ({host_arch}), and other architectures are not supported yet"
            )
    return None
