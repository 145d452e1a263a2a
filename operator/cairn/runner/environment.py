"""The ``runner`` context and the default environment variables of a step.

GitHub exports most of the ``github`` context as ``GITHUB_*`` variables and
the ``runner`` context as ``RUNNER_*``; a workflow's ``env`` cannot override
them, while ``CI`` can be. Variables of the runner's own environment named
``GITHUB_*``/``RUNNER_*`` are dropped first, so that a Cairn run started
inside another CI system does not inherit that system's values.
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Mapping
from typing import Any

from cairn.expr import to_str

#: ``github`` context keys exported as ``GITHUB_<KEY>`` (the runner's allow list)
GITHUB_ENV_KEYS = (
    "action",
    "action_path",
    "action_ref",
    "action_repository",
    "action_status",
    "actor",
    "actor_id",
    "api_url",
    "base_ref",
    "env",
    "event_name",
    "event_path",
    "graphql_url",
    "head_ref",
    "job",
    "output",
    "path",
    "ref",
    "ref_name",
    "ref_protected",
    "ref_type",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "retention_days",
    "run_attempt",
    "run_id",
    "run_number",
    "server_url",
    "sha",
    "state",
    "step_summary",
    "triggering_actor",
    "workflow",
    "workflow_ref",
    "workflow_sha",
    "workspace",
)

_OS_NAMES = {"Linux": "Linux", "Darwin": "macOS", "Windows": "Windows"}
_ARCH_NAMES = {
    "x86_64": "X64",
    "amd64": "X64",
    "aarch64": "ARM64",
    "arm64": "ARM64",
    "armv7l": "ARM",
    "armv6l": "ARM",
    "i386": "X86",
    "i686": "X86",
}


def runner_os() -> str:
    return _OS_NAMES.get(platform.system(), platform.system())


def runner_arch() -> str:
    machine = platform.machine()
    return _ARCH_NAMES.get(machine.lower(), machine.upper())


def default_runner_name() -> str:
    return f"cairn-{socket.gethostname()}"


def runner_context(*, name: str, temp: str, tool_cache: str, debug: bool) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "name": name,
        "os": runner_os(),
        "arch": runner_arch(),
        "temp": temp,
        "tool_cache": tool_cache,
        "environment": "self-hosted",
    }
    if debug:
        ctx["debug"] = "1"
    return ctx


def base_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The runner's own environment without other CI systems' variables."""
    return {k: v for k, v in env.items() if not k.startswith(("GITHUB_", "RUNNER_"))}


def default_variables(github: Mapping[str, Any], runner: Mapping[str, Any]) -> dict[str, str]:
    """``GITHUB_*`` and ``RUNNER_*`` for a step, from its contexts."""
    out: dict[str, str] = {"GITHUB_ACTIONS": "true"}
    for key in GITHUB_ENV_KEYS:
        value = github.get(key)
        if value is not None and not isinstance(value, dict | list):
            out[f"GITHUB_{key.upper()}"] = to_str(value)
    for key, value in runner.items():
        out[f"RUNNER_{key.upper()}"] = to_str(value)
    return out


def compose_environment(
    base: Mapping[str, str],
    env_context: Mapping[str, str],
    defaults: Mapping[str, str],
    prepend_path: list[str],
) -> dict[str, str]:
    """A step's process environment: the runner's own, ``CI=true``, the
    workflow/job/``GITHUB_ENV``/step variables, then the defaults nobody may
    override, and ``GITHUB_PATH`` entries in front of ``PATH`` (the latest
    added first)."""
    env = dict(base)
    env["CI"] = "true"
    env.update(env_context)
    env.update(defaults)
    if prepend_path:
        original = env.get("PATH", os.defpath)
        env["PATH"] = os.pathsep.join([*reversed(prepend_path), original])
    return env
