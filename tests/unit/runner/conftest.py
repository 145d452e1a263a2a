"""Shared helpers of the runner tests: build a JobSpec from GitHub-shaped
step dicts, run it with fast grace periods, and wait on conditions."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cairn.engine.jobspec import JobResult, JobSpec
from cairn.runner.checkout import CheckoutSource
from cairn.runner.job import run_job
from cairn.runner.logsink import MemorySink
from cairn.runner.settings import RunnerSettings
from cairn.workflow.model import Job, RunDefaults

GITHUB = {
    "repository": "octo-org/hello",
    "repository_owner": "octo-org",
    "sha": "0123456789abcdef0123456789abcdef01234567",
    "ref": "refs/heads/main",
    "ref_name": "main",
    "ref_type": "branch",
    "event_name": "push",
    "event": {"ref": "refs/heads/main", "pusher": {"name": "octocat"}},
    "actor": "octocat",
    "run_id": "4242",
    "run_number": "7",
    "run_attempt": "1",
    "server_url": "https://github.com",
    "api_url": "https://api.github.com",
    "workflow": "CI",
}


def make_spec(
    steps: list[dict[str, Any]],
    *,
    job: Mapping[str, Any] | None = None,
    workflow_env: Mapping[str, str] | None = None,
    workflow_defaults: Mapping[str, Any] | None = None,
    contexts: Mapping[str, Any] | None = None,
    timeout_minutes: float = 360.0,
) -> JobSpec:
    """A spec for job ``build`` whose steps are given as in a workflow file."""
    indexed = [{"index": i, **s} for i, s in enumerate(steps)]
    ir = Job.model_validate({"id": "build", **(job or {}), "steps": indexed})
    all_contexts: dict[str, Any] = {"github": dict(GITHUB)}
    all_contexts.update(contexts or {})
    return JobSpec(
        workflow_file=".github/workflows/ci.yml",
        workflow_name="CI",
        instance_id="build",
        name="build",
        attempt=1,
        callback_token="token",
        deadline=datetime(2030, 1, 1, tzinfo=UTC),
        job=ir,
        workflow_env=dict(workflow_env or {}),
        workflow_defaults=RunDefaults.model_validate(workflow_defaults or {}),
        contexts=all_contexts,
        timeout_minutes=timeout_minutes,
    )


@pytest.fixture
def settings(tmp_path: Path) -> RunnerSettings:
    return RunnerSettings(
        sigint_grace=0.3,
        sigterm_grace=0.3,
        cancel_timeout=10.0,
        output_drain_timeout=0.3,
        tool_cache=tmp_path / "toolcache",
        runner_name="test-runner",
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "work" / "hello"
    path.mkdir(parents=True)
    return path


RunJob = Callable[..., Awaitable[tuple[JobResult, MemorySink]]]


@pytest.fixture
def run(workspace: Path, settings: RunnerSettings) -> RunJob:
    async def runner(
        spec: JobSpec,
        *,
        secrets: Mapping[str, str] | None = None,
        checkout: CheckoutSource | None = None,
        cancel: asyncio.Event | None = None,
        settings_: RunnerSettings | None = None,
        base_env: Mapping[str, str] | None = None,
        temp_dir: Path | None = None,
        sink: MemorySink | None = None,
    ) -> tuple[JobResult, MemorySink]:
        sink = sink or MemorySink()
        result = await run_job(
            spec,
            workspace=workspace,
            secrets=secrets or {},
            checkout=checkout,
            log=sink,
            cancel=cancel,
            settings=settings_ or settings,
            base_env=os.environ if base_env is None else base_env,
            temp_dir=temp_dir,
        )
        return result, sink

    return runner


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition (a file appearing...) instead of sleeping blindly."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI machines may have no git identity: tests commit with this one."""
    for var, value in {
        "GIT_AUTHOR_NAME": "Cairn Test",
        "GIT_AUTHOR_EMAIL": "test@cairn.invalid",
        "GIT_COMMITTER_NAME": "Cairn Test",
        "GIT_COMMITTER_EMAIL": "test@cairn.invalid",
    }.items():
        monkeypatch.setenv(var, value)


@pytest.fixture
def spec() -> Callable[..., JobSpec]:
    return make_spec


@pytest.fixture
def until() -> Callable[..., Awaitable[None]]:
    return wait_until
