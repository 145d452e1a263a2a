"""A small real Kopf operator that exercises what Cairn's operator will rely on.

It is run by ``tests/integration/test_kopf_smoke.py`` with ``KopfRunner``
against the emulator. For each ``Widget`` it creates an owned ConfigMap and
reports in the Widget's status; it keeps the ConfigMap's data in step with
``spec.message``; it notices a ConfigMap deleted from under it; it uses
Cairn's persistence choices: progress in ``status.cairn``, the diff-base in
a ``cairn.dev/`` annotation, and a ``cairn.dev/`` finalizer.
"""

from __future__ import annotations

from typing import Any, cast

import kopf
import kubernetes

GROUP, VERSION, PLURAL = "test.cairn.dev", "v1", "widgets"
OWNER_LABEL = "test.cairn.dev/widget"
FINALIZER = "cairn.dev/finalizer"
DIFFBASE_ANNOTATION = "cairn.dev/last-handled-configuration"

registry = kopf.OperatorRegistry()


def make_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.StatusProgressStorage(
        field="status.cairn.progress"
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="cairn.dev", key="last-handled-configuration"
    )
    settings.posting.level = 20  # INFO: our kopf.info() events reach the API
    return settings


def configmap_name(widget: str) -> str:
    return f"{widget}-data"


@kopf.on.login(registry=registry)
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    # An own registry has no default login handlers; log in through $KUBECONFIG like kubectl.
    return kopf.login_via_client(**kwargs)


@kopf.on.startup(registry=registry)
def connect(memo: kopf.Memo, **_: Any) -> None:
    # $KUBECONFIG points at the emulator; a fresh client per run picks up its port.
    memo.api = kubernetes.config.new_client_from_config()


@kopf.on.cleanup(registry=registry)
def disconnect(memo: kopf.Memo, **_: Any) -> None:
    memo.api.close()


@kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
def create_widget(
    body: kopf.Body,
    spec: kopf.Spec,
    name: str,
    namespace: str | None,
    meta: kopf.Meta,
    patch: kopf.Patch,
    memo: Any,
    **_: Any,
) -> None:
    assert namespace is not None  # Widgets are namespaced
    cm: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": configmap_name(name), "labels": {OWNER_LABEL: name}},
        "data": {"message": spec["message"]},
    }
    kopf.adopt(cm, owner=body)
    core = kubernetes.client.CoreV1Api(memo.api)
    try:
        # The client accepts plain dicts at runtime; its annotations only name the models.
        core.create_namespaced_config_map(namespace, cast(Any, cm))
    except kubernetes.client.ApiException as e:
        if e.status != 409:  # AlreadyExists: a retried handler already made it
            raise
    patch.status["phase"] = "Ready"
    patch.status["configMap"] = configmap_name(name)
    patch.status["observedGeneration"] = meta["generation"]
    kopf.info(body, reason="ConfigMapCreated", message=f"created ConfigMap {configmap_name(name)}")


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec.message", registry=registry)
def message_changed(
    name: str,
    namespace: str | None,
    new: Any,
    meta: kopf.Meta,
    patch: kopf.Patch,
    memo: Any,
    **_: Any,
) -> None:
    assert namespace is not None
    core = kubernetes.client.CoreV1Api(memo.api)
    core.patch_namespaced_config_map(configmap_name(name), namespace, {"data": {"message": new}})
    patch.status["observedGeneration"] = meta["generation"]


@kopf.on.event("", "v1", "configmaps", labels={OWNER_LABEL: kopf.PRESENT}, registry=registry)
def configmap_event(type: str, body: kopf.Body, namespace: str | None, memo: Any, **_: Any) -> None:
    if type != "DELETED" or namespace is None:
        return
    owner = body["metadata"]["labels"][OWNER_LABEL]
    custom = kubernetes.client.CustomObjectsApi(memo.api)
    try:
        widget: Any = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, owner)
        if widget["metadata"].get("deletionTimestamp"):
            return  # the ConfigMap went with its owner
        lost = int(widget.get("status", {}).get("lostConfigMaps", 0)) + 1
        custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            owner,
            {"status": {"phase": "ConfigMapLost", "lostConfigMaps": lost}},
        )
    except kubernetes.client.ApiException as e:
        if e.status != 404:  # the owner itself is gone: nothing to report on
            raise


@kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
def delete_widget(name: str, logger: kopf.Logger, **_: Any) -> None:
    # Its presence makes Kopf put FINALIZER on every Widget; the ConfigMap goes by GC.
    logger.info("widget %s is being deleted", name)
