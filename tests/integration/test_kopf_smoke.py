"""Real Kopf (in KopfRunner's thread) against the API emulator, end to end.

One operator run walks through what Cairn's operator will depend on: events
reach handlers, merge and JSON patches apply (status through ``/status``),
child objects carry ownerReferences and are garbage-collected, a ConfigMap
deleted from under the operator is noticed, Kopf's finalizer holds deletion
until the handler ran, a cut watch resumes from its resourceVersion without a
relist, a compacted history (410 Gone) makes Kopf relist, and the operator
shuts down cleanly. A second run shows Kopf's peering pausing and resuming.
"""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import parse_qs

from kopf.testing import KopfRunner

from tests.integration.conftest import REPO_ROOT, TEST_MANIFESTS
from tests.kubeapi import KubeApiEmulator
from tests.kubeapi import kopf_smoke_operator as op

WIDGETS = "widgets.test.cairn.dev"
NS = "default"
TIMEOUT = 15.0


def _phase(phase: str) -> Any:
    return lambda obj: obj is not None and (obj.get("status") or {}).get("phase") == phase


def _widget(name: str, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "test.cairn.dev/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"message": message},
    }


def _watch_requests_since(
    api: KubeApiEmulator, seq: int, resource: str
) -> list[dict[str, list[str]]]:
    return [
        parse_qs(r.query)
        for r in api.recent_requests()
        if r.seq > seq and r.verb == "watch" and r.resource == resource
    ]


def test_kopf_operator_runs_end_to_end_against_the_emulator(kubeapi: KubeApiEmulator) -> None:
    kubeapi.register_crd(TEST_MANIFESTS / "widgets.yaml")
    args = ["run", "--standalone", "--namespace", NS, "--verbose"]
    with KopfRunner(args, registry=op.registry, settings=op.make_settings(), timeout=30) as runner:
        kubeapi.wait_for_watches(WIDGETS, timeout=TIMEOUT)
        kubeapi.wait_for_watches("configmaps", timeout=TIMEOUT)

        # Create: the handler creates an owned ConfigMap and patches status via /status.
        kubeapi.create(WIDGETS, _widget("w1", "hello"), NS)
        w1 = kubeapi.wait_for(WIDGETS, "w1", NS, predicate=_phase("Ready"), timeout=TIMEOUT)
        assert w1 is not None
        assert w1["status"]["observedGeneration"] == 1
        assert op.FINALIZER in w1["metadata"]["finalizers"]
        assert op.DIFFBASE_ANNOTATION in w1["metadata"]["annotations"]
        assert kubeapi.request_count("patch", WIDGETS, subresource="status") >= 1
        cm = kubeapi.get("configmaps", "w1-data", NS)
        assert cm["data"] == {"message": "hello"}
        assert [r["uid"] for r in cm["metadata"]["ownerReferences"]] == [w1["metadata"]["uid"]]

        # Kopf's own Event about the handler reached the core/v1 events API.
        kubeapi.wait_until(
            "events",
            lambda evs: any(
                e.get("reason") == "ConfigMapCreated" and e["involvedObject"]["name"] == "w1"
                for e in evs
            ),
            NS,
            timeout=TIMEOUT,
        )

        # Update: a spec change bumps generation and reaches the field handler.
        kubeapi.patch(WIDGETS, "w1", {"spec": {"message": "bye"}}, NS)
        kubeapi.wait_for(
            WIDGETS,
            "w1",
            NS,
            timeout=TIMEOUT,
            predicate=lambda o: o is not None and o["status"].get("observedGeneration") == 2,
        )
        assert kubeapi.get("configmaps", "w1-data", NS)["data"] == {"message": "bye"}

        # A ConfigMap deleted from under the operator is noticed.
        kubeapi.delete("configmaps", "w1-data", NS)
        lost = kubeapi.wait_for(
            WIDGETS, "w1", NS, predicate=_phase("ConfigMapLost"), timeout=TIMEOUT
        )
        assert lost is not None and lost["status"]["lostConfigMaps"] == 1

        # Cut the widgets watch; w2 is created behind the cut, so only a resumed watch can see it.
        lists_before = kubeapi.request_count("list", WIDGETS)
        seq = kubeapi.recent_requests()[-1].seq
        assert kubeapi.drop_watches(WIDGETS) == 1
        w2 = kubeapi.create(WIDGETS, _widget("w2", "second"), NS)
        kubeapi.wait_for(WIDGETS, "w2", NS, predicate=_phase("Ready"), timeout=TIMEOUT)
        resumed = _watch_requests_since(kubeapi, seq, "widgets")
        assert resumed, "Kopf did not reconnect the watch"
        assert int(resumed[0]["resourceVersion"][0]) < int(w2["metadata"]["resourceVersion"])
        assert kubeapi.request_count("list", WIDGETS) == lists_before, (
            "a resumed watch must not relist"
        )

        # After a compaction the resume gets 410 Gone inside the stream; Kopf relists, carries on.
        # (An unrelated write first, so the history is compacted past Kopf's last widget.)
        kubeapi.create("configmaps", {"metadata": {"name": "unrelated"}}, NS)
        kubeapi.compact()
        kubeapi.drop_watches(WIDGETS)
        kubeapi.create(WIDGETS, _widget("w3", "third"), NS)
        kubeapi.wait_for(WIDGETS, "w3", NS, predicate=_phase("Ready"), timeout=TIMEOUT)
        assert kubeapi.request_count("list", WIDGETS) == lists_before + 1

        # Delete: Kopf's finalizer holds the object until its handler ran; GC takes the child.
        kubeapi.delete(WIDGETS, "w2", NS)
        kubeapi.wait_for(WIDGETS, "w2", NS, predicate=lambda o: o is None, timeout=TIMEOUT)
        kubeapi.wait_for(
            "configmaps", "w2-data", NS, predicate=lambda o: o is None, timeout=TIMEOUT
        )

    assert runner.exception is None
    assert runner.exit_code == 0
    # Every handler created its ConfigMap exactly once: no duplicate work after the reconnects.
    assert kubeapi.request_count("create", "configmaps", status=201) == 3
    assert kubeapi.request_count("create", "configmaps", status=409) == 0


def test_kopf_peering_pauses_for_a_higher_priority_peer(kubeapi: KubeApiEmulator) -> None:
    """Kopf's peering (used by the two-replica Deployment) works through the emulator."""
    kubeapi.register_crd(REPO_ROOT / "crds" / "kopf-peering.yaml")
    kubeapi.register_crd(TEST_MANIFESTS / "widgets.yaml")
    now = datetime.datetime.now(datetime.UTC).isoformat()
    other = {"priority": 100, "lifetime": 60, "lastseen": now}
    kubeapi.create(
        "kopfpeerings.kopf.dev",
        {"metadata": {"name": "cairn"}, "status": {"other-replica": other}},
        NS,
    )
    args = ["run", "--namespace", NS, "--peering", "cairn", "--priority", "10"]
    with KopfRunner(args, registry=op.registry, settings=op.make_settings(), timeout=30) as runner:
        kubeapi.wait_for(
            "kopfpeerings.kopf.dev",
            "cairn",
            NS,
            timeout=TIMEOUT,
            predicate=lambda o: o is not None and len(o.get("status") or {}) == 2,
        )
        kubeapi.create(WIDGETS, _widget("w", "m"), NS)
        # Paused behind a higher-priority peer: no watch on widgets, nothing handled.
        assert kubeapi.active_watches(WIDGETS) == []
        assert "status" not in kubeapi.get(WIDGETS, "w", NS)
        # The other replica goes away: this one resumes and catches up.
        kubeapi.patch("kopfpeerings.kopf.dev", "cairn", {"status": {"other-replica": None}}, NS)
        kubeapi.wait_for(WIDGETS, "w", NS, predicate=_phase("Ready"), timeout=TIMEOUT)
    assert runner.exit_code == 0
    # On exit the operator removes its own peering record.
    assert kubeapi.get("kopfpeerings.kopf.dev", "cairn", NS).get("status") == {}
