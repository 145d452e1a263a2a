"""Cairn's own CRDs (``crds/``) register through the API and serve what they declare.

Each CRD is POSTed with the real client; discovery must then show its
group/version/kind with the declared scope, names and status subresource.
Each literal example CIRun is admitted against the CIRun schema with nothing
pruned: a field an example uses but the CRD forgot would vanish on a real
cluster, and fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from tests.integration.conftest import REPO_ROOT
from tests.kubeapi import KubeApiEmulator


def _documents(pattern: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(REPO_ROOT.glob(pattern)):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == kind:
                meta = doc.get("metadata") or {}
                name = meta.get("name") or meta.get("generateName", "")
                found.append((f"{path.relative_to(REPO_ROOT)}:{name}", doc))
    return found


CRDS = _documents("crds/*.yaml", "CustomResourceDefinition")
# Examples with ${...} placeholders are templates to fill in, not objects.
EXAMPLE_RUNS = [
    (n, d) for n, d in _documents("examples/ciruns/*.yaml", "CIRun") if "${" not in str(d)
]


def _register_all(api: KubeApiEmulator) -> None:
    for _, crd in CRDS:
        api.register_crd(crd)


@pytest.mark.parametrize(("where", "crd"), CRDS, ids=[n for n, _ in CRDS])
def test_project_crd_is_served_as_declared(
    kube_client: Any, where: str, crd: dict[str, Any]
) -> None:
    ext: Any = kubernetes.client.ApiextensionsV1Api(kube_client)
    created = ext.create_custom_resource_definition(crd)
    assert {c.type: c.status for c in created.status.conditions}["Established"] == "True"
    spec = crd["spec"]
    custom: Any = kubernetes.client.CustomObjectsApi(kube_client)
    for version in spec["versions"]:
        served = {
            r.name: r for r in custom.get_api_resources(spec["group"], version["name"]).resources
        }
        plural = spec["names"]["plural"]
        assert served[plural].kind == spec["names"]["kind"], where
        assert served[plural].namespaced is (spec["scope"] == "Namespaced"), where
        assert set(served[plural].short_names or []) == set(spec["names"].get("shortNames", []))
        has_status = "status" in (version.get("subresources") or {})
        assert (f"{plural}/status" in served) is has_status, where


def _contains(stored: Any, given: Any, path: str = "") -> list[str]:
    """Paths of ``given`` missing or different in ``stored`` (defaults may add more)."""
    if isinstance(given, dict):
        if not isinstance(stored, dict):
            return [path or "<root>"]
        return [
            p
            for k, v in given.items()
            for p in (
                [f"{path}.{k}"] if k not in stored else _contains(stored[k], v, f"{path}.{k}")
            )
        ]
    if isinstance(given, list):
        if not isinstance(stored, list) or len(stored) != len(given):
            return [path]
        return [
            p
            for i, (s, g) in enumerate(zip(stored, given, strict=True))
            for p in _contains(s, g, f"{path}[{i}]")
        ]
    return [] if stored == given else [path]


@pytest.mark.parametrize(("where", "run"), EXAMPLE_RUNS, ids=[n for n, _ in EXAMPLE_RUNS])
def test_example_cirun_survives_admission_unpruned(
    kubeapi: KubeApiEmulator, where: str, run: dict[str, Any]
) -> None:
    _register_all(kubeapi)
    stored = kubeapi.apply_manifest(run)[0]
    assert _contains(stored["spec"], run["spec"]) == [], (
        f"{where}: pruned or changed by the CRD schema"
    )


def test_project_crds_exist() -> None:
    names = {crd["metadata"]["name"] for _, crd in CRDS}
    assert {"ciruns.cairn.dev", "ciworkflows.cairn.dev", "runnerclasses.cairn.dev"} <= names
    assert Path(REPO_ROOT / "crds").is_dir()
