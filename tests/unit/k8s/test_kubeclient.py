"""The shared Kubernetes client: credentials and error mapping (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.k8s import kubeclient
from cairn.k8s.errors import (
    AlreadyExists,
    Conflict,
    KubeApiError,
    KubeCredentialsError,
    KubeUnavailable,
    NotFound,
)


def _kubeconfig(tmp_path: Path, user: dict[str, str]) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
        f"users: [{{name: u, user: {user}}}]\n".replace("'", '"')
    )
    return path


def test_missing_credentials_are_a_credentials_error(tmp_path: Path) -> None:
    with pytest.raises(KubeCredentialsError, match="cannot load Kubernetes credentials"):
        kubeclient.KubeConnection.load(str(tmp_path / "absent"))


def test_basic_authentication_is_sent_as_the_official_client_sends_it(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, {"username": "u", "password": "p"})
    assert kubeclient.KubeConnection.load(str(path)).authorization() == "Basic dTpw"


def test_a_bearer_token_becomes_the_authorization_header(tmp_path: Path) -> None:
    connection = kubeclient.KubeConnection.load(str(_kubeconfig(tmp_path, {"token": "s3cret"})))
    assert connection.host == "http://127.0.0.1:1"
    assert connection.authorization() == "Bearer s3cret"


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (404, "NotFound", NotFound),
        (409, "AlreadyExists", AlreadyExists),
        (409, "Conflict", Conflict),
        (503, "ServiceUnavailable", KubeUnavailable),
        (422, "Invalid", KubeApiError),
    ],
)
def test_api_answers_map_to_typed_errors(status: int, reason: str, kind: type) -> None:
    error = kubeclient._api_error("POST", "/x", status, {"reason": reason, "message": "m"}, "")
    assert type(error) is kind
    assert error.api_status == status and error.reason == reason
    assert f"{status} {reason} m" in str(error)


async def test_an_unreachable_server_is_unavailable() -> None:
    client = kubeclient.KubeClient(kubeclient.KubeConnection(host="http://127.0.0.1:1"))
    try:
        with pytest.raises(KubeUnavailable, match="GET /api"):
            await client.request("GET", "/api")
    finally:
        await client.close()


def test_the_authorization_is_read_again_after_its_time_to_live() -> None:
    reads: list[float] = []
    now = [100.0]

    def read() -> str:
        reads.append(now[0])
        return f"Bearer t{len(reads)}"

    header = kubeclient.CachedAuthorization(read, ttl_seconds=5.0, clock=lambda: now[0])
    assert header() == "Bearer t1"
    now[0] += 4.9
    assert header() == "Bearer t1"
    now[0] += 0.1
    assert header() == "Bearer t2"
    header.invalidate()
    assert header() == "Bearer t3"
    assert len(reads) == 3
