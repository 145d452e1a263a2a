"""Fixtures for operator integration tests: a Kubernetes API emulator on loopback.

``kubernetes.config`` reads $KUBECONFIG once, when it is first imported, and
Kopf's login goes through it. So $KUBECONFIG is set here, before anything
imports kopf or kubernetes, to a file each ``kubeapi`` fixture rewrites with
its own emulator's port. The in-cluster variables are removed so no test can
ever reach a real cluster by accident.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_KUBECONFIG_DIR = Path(tempfile.mkdtemp(prefix="cairn-integration-"))
KUBECONFIG_PATH = _KUBECONFIG_DIR / "kubeconfig"
os.environ["KUBECONFIG"] = str(KUBECONFIG_PATH)
for _var in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
    os.environ.pop(_var, None)

import pytest  # noqa: E402

from tests.kubeapi import KubeApiEmulator  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_MANIFESTS = REPO_ROOT / "tests" / "kubeapi" / "manifests"


def _point_kubernetes_client_at(path: Path) -> None:
    # If something imported kubernetes before this conftest, its default location is stale.
    import kubernetes.config.kube_config as kube_config

    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(path)


@pytest.fixture
def kubeapi() -> Iterator[KubeApiEmulator]:
    """A fresh, running API emulator; $KUBECONFIG points at it for the test's duration."""
    with KubeApiEmulator() as api:
        api.write_kubeconfig(KUBECONFIG_PATH)
        _point_kubernetes_client_at(KUBECONFIG_PATH)
        yield api
        crashes = api.errors
    KUBECONFIG_PATH.unlink(missing_ok=True)
    assert not crashes, "the Kubernetes API emulator crashed:\n" + "\n".join(crashes)


@pytest.fixture
def kube_client(kubeapi: KubeApiEmulator) -> Iterator[object]:
    """A ``kubernetes.client.ApiClient`` bound to the ``kubeapi`` emulator."""
    client = kubeapi.api_client()
    try:
        yield client
    finally:
        client.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_KUBECONFIG_DIR, ignore_errors=True)
