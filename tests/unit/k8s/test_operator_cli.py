"""``cairn operator``: flags and CAIRN_* settings reach Kopf."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kopf
import pytest

from cairn.cli import main
from cairn.k8s import operator


@pytest.fixture
def kopf_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    called: dict[str, Any] = {}
    monkeypatch.setattr(kopf, "run", lambda **kwargs: called.update(kwargs))
    for name in ("CAIRN_NAMESPACES", "CAIRN_PEERING_NAME", "POD_NAME", "CAIRN_PEERING_PRIORITY"):
        monkeypatch.delenv(name, raising=False)
    yield called
    operator.configure(None)


def test_namespaces_standalone_and_priority(kopf_run: dict[str, Any]) -> None:
    args = ["operator", "-n", "ci", "-n", "ci-staging", "--standalone", "--priority", "7"]
    assert main(args) == 0
    assert kopf_run["namespaces"] == ["ci", "ci-staging"] and not kopf_run["clusterwide"]
    assert kopf_run["standalone"] is True and kopf_run["peering_name"] is None
    assert kopf_run["priority"] == 7
    assert kopf_run["registry"] is operator.registry


def test_cluster_wide_with_peering_from_the_environment(
    kopf_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_PEERING_NAME", "cairn-ha")
    monkeypatch.setenv("POD_NAME", "cairn-operator-7d9f-abcde")
    assert main(["operator", "--liveness", ""]) == 0
    assert kopf_run["clusterwide"] and kopf_run["namespaces"] == []
    assert kopf_run["peering_name"] == "cairn-ha" and kopf_run["standalone"] is None
    assert kopf_run["priority"] > 0  # derived from the pod name
    assert kopf_run["liveness_endpoint"] is None


def test_a_malformed_setting_stops_the_operator_with_its_name(
    kopf_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CAIRN_JOB_TTL_SECONDS", "a day")
    assert main(["operator"]) == 2
    assert "CAIRN_JOB_TTL_SECONDS" in capsys.readouterr().err
    assert not kopf_run


def test_kopf_keeps_its_bookkeeping_in_status_and_posts_only_warnings() -> None:
    settings = kopf.OperatorSettings()
    operator.apply_kopf_settings(settings, operator.OperatorOptions().settings)
    assert settings.persistence.finalizer == "cairn.dev/finalizer"
    assert isinstance(settings.persistence.progress_storage, kopf.StatusProgressStorage)
    assert isinstance(settings.persistence.diffbase_storage, kopf.StatusDiffBaseStorage)
    assert settings.posting.level == 30
    assert settings.peering.name == "cairn"
    assert settings.peering.lifetime == 60


def test_the_peering_gate_knows_where_kopf_keeps_this_replicas_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dataclasses

    from cairn.k8s.settings import OperatorSettings

    monkeypatch.delenv("POD_ID", raising=False)
    kopf_settings = kopf.OperatorSettings()
    kopf_settings.peering.standalone = True
    options = operator.OperatorOptions(peer_identity="cairn-1")
    assert operator.peering_scope(kopf_settings, options) is None
    kopf_settings.peering.standalone = False
    kopf_settings.peering.name, kopf_settings.peering.priority = "cairn", 7
    kopf_settings.peering.clusterwide = True
    scope = operator.peering_scope(kopf_settings, options)
    assert scope is not None and (scope.identity, scope.priority, scope.namespaces) == (
        "cairn-1",
        7,
        (),
    )
    kopf_settings.peering.clusterwide = False
    namespaced = dataclasses.replace(
        options, settings=OperatorSettings(namespaces=("ci",)), peer_identity=None
    )
    assert operator.peering_scope(kopf_settings, namespaced) is None  # who are we? unknown
    monkeypatch.setenv("POD_ID", "cairn-2")
    scope = operator.peering_scope(kopf_settings, namespaced)
    assert scope is not None and (scope.identity, scope.namespaces) == ("cairn-2", ("ci",))


def test_every_flag_is_documented() -> None:
    import argparse
    from pathlib import Path

    from cairn.k8s import cli as operator_cli

    parser = argparse.ArgumentParser()
    operator_cli.configure(parser)
    flags = {o for action in parser._actions for o in action.option_strings} - {"-h", "--help"}
    docs = (Path(__file__).resolve().parents[3] / "docs" / "kubernetes.md").read_text()
    table = docs[docs.index("### `cairn operator`") : docs.index("### Settings")]
    assert flags and not {f for f in flags if f"`{f}" not in table}


def test_every_handler_is_an_event_handler_so_no_diff_base_is_needed() -> None:
    # EventOnlyDiffBase gives Kopf an empty essence: a change-detecting or daemon
    # handler would silently see no changes, so none may be registered.
    registry = operator.make_registry()
    assert registry._watching.get_all_handlers()
    assert not registry._changing.get_all_handlers()
    assert not registry._spawning.get_all_handlers()
    assert not registry._indexing.get_all_handlers()


def test_the_diff_base_skips_copying_the_body_and_refuses_to_store() -> None:
    storage = operator.EventOnlyDiffBase(field=operator.DIFFBASE_FIELD)
    body = kopf.Body({"metadata": {"name": "wf"}, "spec": {"plan": ["x"] * 1000}})
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    with pytest.raises(operator.ChangeHandlerUnsupported, match=r"kopf\.on\.event"):
        storage.store(body=body, patch=kopf.Patch(), essence=kopf.BodyEssence())
