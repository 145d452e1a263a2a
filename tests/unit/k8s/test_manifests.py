"""The deployment manifests and the Dockerfile: parse, agree with the code, least privilege."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from cairn.k8s.settings import OPERATOR_PERMISSIONS, from_env

ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = ROOT / "manifests"
CRDS = ROOT / "crds"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def manifest_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")


def all_objects() -> list[dict[str, Any]]:
    return [d for path in manifest_files() for d in documents(path)]


def find(kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in all_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_every_manifest_parses_into_named_objects(path: Path) -> None:
    for doc in documents(path):
        assert doc.get("apiVersion") and doc.get("kind"), path
        assert doc["metadata"].get("name"), path


@pytest.mark.parametrize("directory", [MANIFESTS, CRDS], ids=["manifests", "crds"])
def test_kustomizations_list_every_file_of_their_directory(directory: Path) -> None:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in directory.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert listed == present


#: manifests/webhook.yaml is the webhook receiver's (with RoleBindings in run namespaces)
OPERATOR_FILES = [p for p in manifest_files() if p.name != "webhook.yaml"]


def test_operator_objects_live_in_cairn_system() -> None:
    cluster_scoped = {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "RunnerClass",
        "ClusterKopfPeering",
    }
    for obj in (d for path in OPERATOR_FILES for d in documents(path)):
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"].get("namespace") == "cairn-system", obj["metadata"]["name"]


def rule_grants(rules: list[dict[str, Any]]) -> Iterator[tuple[str, str, str, str]]:
    """(group, resource, verb, object name or "" for any object) per grant."""
    for rule in rules:
        assert "nonResourceURLs" not in rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), "no wildcards"
                    for name in rule.get("resourceNames") or [""]:
                        yield group, resource, verb, name


def test_rbac_grants_exactly_the_permissions_the_operator_declares() -> None:
    role = find("ClusterRole", "cairn-operator")
    granted = sorted(rule_grants(role["rules"]))
    declared = sorted(
        (p.api_group, p.resource, verb, name)
        for p in OPERATOR_PERMISSIONS
        for verb in p.verbs
        for name in p.resource_names or ("",)
    )
    assert granted == declared


def test_rbac_never_lets_the_operator_read_secrets_or_create_runs() -> None:
    granted = {g[:3] for g in rule_grants(find("ClusterRole", "cairn-operator")["rules"])}
    assert ("", "secrets", "get") not in granted
    assert ("", "secrets", "list") not in granted
    assert ("cairn.dev", "ciruns", "create") not in granted


def test_configmaps_are_read_and_updated_only_by_the_run_number_counters_name() -> None:
    from cairn.k8s.run_numbers import CONFIGMAP_NAME

    granted = set(rule_grants(find("ClusterRole", "cairn-operator")["rules"]))
    configmaps = {
        (verb, name) for group, resource, verb, name in granted if resource == "configmaps"
    }
    assert configmaps == {("create", ""), ("get", CONFIGMAP_NAME), ("patch", CONFIGMAP_NAME)}


def test_the_role_is_bound_to_the_operators_service_account() -> None:
    binding = find("ClusterRoleBinding", "cairn-operator")
    deployment = find("Deployment", "cairn-operator")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "cairn-operator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": "cairn-system"}
    ]
    find("ServiceAccount", account)


def operator_container() -> dict[str, Any]:
    deployment = find("Deployment", "cairn-operator")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def literal_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_operator_deployment_runs_two_peered_replicas() -> None:
    deployment = find("Deployment", "cairn-operator")
    assert deployment["spec"]["replicas"] == 2
    container = operator_container()
    assert container["command"] == ["cairn", "operator"]
    from_pod = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in container["env"]
        if "valueFrom" in e
    }
    # Kopf's identity and Cairn's per-replica priority both come from the pod name.
    assert from_pod["POD_ID"] == "metadata.name"
    assert from_pod["POD_NAME"] == "metadata.name"
    settings = from_env({**literal_env(container), "POD_NAME": "cairn-operator-6d4f-x2x7q"})
    assert settings.effective_peering_priority() > 0
    find("ClusterKopfPeering", settings.peering_name)


def test_operator_settings_in_the_deployment_are_valid_and_consistent() -> None:
    container = operator_container()
    settings = from_env(literal_env(container))  # raises on any unknown or malformed knob
    assert settings.runner_image == container["image"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert str(PurePosixPath(settings.operator_key_file).parent) == mounts["operator-key"]
    volumes = {
        v["name"]: v
        for v in find("Deployment", "cairn-operator")["spec"]["template"]["spec"]["volumes"]
    }
    assert volumes["operator-key"]["secret"]["secretName"] == "cairn-operator-key"
    # The liveness probe points at Kopf's liveness endpoint.
    endpoint = urlparse(settings.liveness_endpoint)
    probe = container["livenessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert probe["path"] == endpoint.path
    assert ports[probe["port"]] == endpoint.port


def test_operator_pod_is_non_root_and_bounded() -> None:
    spec = find("Deployment", "cairn-operator")["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = operator_container()
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["readOnlyRootFilesystem"] is True
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}


def test_default_runner_class_follows_the_operators_runner_image() -> None:
    runner_class = find("RunnerClass", "default")
    assert "image" not in runner_class["spec"]
    assert "ubuntu-latest" in runner_class["spec"]["labels"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("directory", ["crds", "manifests"])
def test_kustomize_renders(directory: str) -> None:
    done = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / directory)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(done.stdout) if d]
    assert kinds


# --- the Dockerfile -----------------------------------------------------------------


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_dockerfile_copies_only_files_that_exist_and_are_not_ignored() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for line in dockerfile().splitlines():
        match = re.match(r"^COPY\s+(?!--from)(?:--\S+\s+)*(.+)\s+\S+$", line.strip())
        if match is None:
            continue
        for source in match.group(1).split():
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert source.rstrip("/") not in ignored, f"COPY {source} is in .dockerignore"


def test_dockerfile_builds_a_slim_non_root_image_with_git_and_the_runner_runtime() -> None:
    text = dockerfile()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)
    assert len(stages) >= 2, "multi-stage"
    assert all(
        "python:3.11" in image or image in {n for _, n in stages}
        for image, _ in stages
        if not image.startswith("debian")
    )
    final = text.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER\s+1001", final, re.M), "the final stage runs as the cairn user"
    assert "git" in final and "util-linux" in final  # git sources need git and prlimit
    assert "[operator]" in text
    assert "/opt/cairn" in final, "the runner runtime that container jobs copy in"


def test_dockerignore_keeps_secrets_and_clutter_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "**/__pycache__", ".cairn"):
        assert entry in ignored
