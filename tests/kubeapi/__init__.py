"""A Kubernetes API server emulation for Cairn's integration tests.

Real Kopf and the real ``kubernetes`` client talk HTTP to it on loopback; see
``docs/testing.md`` for what it emulates and what it does not.
"""

from .emulator import KubeApiEmulator, ObjectChange
from .errors import EmulatorUsageError, KubeApiError, WaitTimeout
from .requestlog import ANY, RequestRecord

__all__ = [
    "ANY",
    "EmulatorUsageError",
    "KubeApiEmulator",
    "KubeApiError",
    "ObjectChange",
    "RequestRecord",
    "WaitTimeout",
]
