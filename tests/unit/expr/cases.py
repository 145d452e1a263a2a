"""Shared fixtures of the expression tests: realistic contexts of a GitHub
Actions job, and a strict comparison (``True`` is not ``1`` here)."""

from __future__ import annotations

import math
from typing import Any

CONTEXTS: dict[str, Any] = {
    "github": {
        "event_name": "push",
        "ref": "refs/heads/main",
        "ref_name": "main",
        "repository": "octo-org/hello-world",
        "actor": "octocat",
        "run_number": 42,
        "sha": "ffac537e6cbbf934b08745a378932722df287a53",
        "event": {
            "labels": [{"name": "bug", "id": 1}, {"name": "CI", "id": 2}, {"id": 3}],
            "pull_request": {"draft": False, "number": 7, "head": {"ref": "feature/x"}},
            "commits": [],
            "forced": False,
            "size": 0.0,
        },
    },
    "env": {"CI": "true", "COUNT": "3", "Mixed_Case": "x"},
    "vars": {"DEPLOY": "yes"},
    "secrets": {"TOKEN": "s3cr3t"},
    "inputs": {"debug": True, "level": 3, "name": "world"},
    "matrix": {"os": "ubuntu-latest", "node": 20, "experimental": True, "python": "3.10"},
    "strategy": {"fail-fast": True, "job-index": 0, "job-total": 2, "max-parallel": 2},
    "needs": {
        "build": {"result": "success", "outputs": {"version": "1.2.3", "empty": ""}},
        "test": {"result": "failure", "outputs": {}},
    },
    "steps": {
        "checkout": {"outcome": "success", "conclusion": "success", "outputs": {"sha": "abc123"}}
    },
    "runner": {"os": "Linux", "arch": "X64", "temp": "/home/runner/work/_temp"},
    "job": {"status": "success"},
    "jobs": {"build": {"result": "success", "outputs": {"artifact": "app.tar"}}},
}


class Err:
    """An expected error: its type name and the start of ``str(error)``."""

    def __init__(self, kind: str, text: str) -> None:
        self.kind = kind
        self.text = text

    def __repr__(self) -> str:
        return f"Err({self.kind}, {self.text!r})"


def same(actual: Any, expected: Any) -> bool:
    """Equality that tells booleans from numbers and accepts NaN == NaN."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and actual == expected
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(same(actual[k], expected[k]) for k in expected)
        )
    return type(actual) is type(expected) and actual == expected
