"""manifests/webhook.yaml agrees with the code it deploys."""

from __future__ import annotations

import argparse
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from cairn.k8s.settings import OperatorSettings
from cairn.webhook.cli import build_config, configure
from cairn.webhook.kubeapi import RECEIVER_PERMISSIONS

MANIFEST = Path(__file__).parents[3] / "manifests" / "webhook.yaml"


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    return {d["kind"]: d for d in docs}


def container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (only,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = only
    return result


def test_rbac_grants_exactly_what_the_receiver_uses(objects: dict[str, dict[str, Any]]) -> None:
    granted = {
        (group, resource, tuple(rule["verbs"]))
        for rule in objects["ClusterRole"]["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert granted == set(RECEIVER_PERMISSIONS)
    binding = objects["RoleBinding"]
    assert binding["roleRef"]["name"] == objects["ClusterRole"]["metadata"]["name"]
    (subject,) = binding["subjects"]
    sa = objects["ServiceAccount"]["metadata"]
    assert (subject["name"], subject["namespace"]) == (sa["name"], sa["namespace"])
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["name"]


def test_the_command_reads_the_mounted_config_and_secrets(
    objects: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    spec = container(objects)
    assert spec["command"][:2] == ["cairn", "webhook"]
    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args(spec["command"][2:])
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    mounts = {m["name"]: PurePosixPath(m["mountPath"]) for m in spec["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    config_path = PurePosixPath(str(args.config))
    assert config_path.parent == mounts["config"]
    assert volumes["config"]["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    assert PurePosixPath(str(args.webhook_secrets_dir)) == mounts["webhook-secrets"]
    key_path = PurePosixPath(str(args.operator_key_file))
    assert key_path.parent == mounts["operator-key"]
    assert volumes["operator-key"]["secret"]["items"] == [{"key": "key", "path": key_path.name}]
    # the ConfigMap's file is a configuration the receiver accepts
    local = tmp_path / config_path.name
    local.write_text(objects["ConfigMap"]["data"][config_path.name])
    args.config = local
    config = build_config(args)
    assert config.namespaces == (objects["RoleBinding"]["metadata"]["namespace"],)
    port = spec["ports"][0]
    assert args.port == port["containerPort"]


def test_the_service_is_where_the_operator_sends_sandboxes(
    objects: dict[str, dict[str, Any]],
) -> None:
    default = OperatorSettings().callback_base_url
    assert default is not None
    url = urlsplit(default)
    service = objects["Service"]
    name, namespace = url.hostname.split(".")[:2]  # type: ignore[union-attr]
    assert (service["metadata"]["name"], service["metadata"]["namespace"]) == (name, namespace)
    assert service["spec"]["ports"][0]["port"] == url.port
    selector = service["spec"]["selector"]
    pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()


def test_probes_hit_the_receivers_endpoints(objects: dict[str, dict[str, Any]]) -> None:
    spec = container(objects)
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # /readyz waits up to 5 s on the API: the probe must wait longer
    assert spec["readinessProbe"]["timeoutSeconds"] > 5


def test_the_pod_is_hardened(objects: dict[str, dict[str, Any]]) -> None:
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    # the image's own unprivileged user (Dockerfile: USER 1001:1001)
    dockerfile = (MANIFEST.parents[1] / "Dockerfile").read_text()
    user = f"USER {pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    assert user in dockerfile
    security = container(objects)["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "limits" in container(objects)["resources"]
