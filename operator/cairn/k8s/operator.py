"""The operator process: Kopf's settings, startup and cleanup, and the handlers.

``cairn operator`` (``cli.py``) runs :data:`registry` (tests hand the same
registry to Kopf's ``KopfRunner``). Choices:

- **Only ``on.event`` handlers.** The custom resources' statuses are Cairn's
  checkpoints, so nothing needs Kopf's change detection; without it Kopf
  writes nothing onto the objects (no progress, no diff-base, no finalizer:
  children are removed by ownerReference garbage collection). Kopf still
  builds every object's diff-base "essence" on every watch event, by deep
  copying the whole body: for a CIWorkflow (compiled plan and checkpoint)
  that was most of the operator's CPU and grew with the workflow. The
  :class:`EventOnlyDiffBase` storage makes that essence empty, and refuses
  loudly should a change-detecting handler ever be added (its progress would
  then belong in ``status.kopf``, declared by the CRDs, never in annotations,
  whose 256 KiB total a large workflow's callbacks need; the finalizer is
  ``cairn.dev/finalizer``).
- **Posting**: Kopf turns handler logs into Kubernetes Events; only warnings
  and errors are posted, the transitions are Cairn's own aggregated Events.
- **Peering**: replicas share the peering object named by
  ``--peering``/``CAIRN_PEERING_NAME`` (a ``ClusterKopfPeering`` when watching
  all namespaces, a ``KopfPeering`` in each watched namespace otherwise, as
  Kopf does), each with its own priority; ``--standalone`` runs without.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from cairn.errors import CairnError
from cairn.k8s import handlers_runs, handlers_sandboxes, handlers_workflows
from cairn.k8s.cluster import Cluster, NotFound
from cairn.k8s.launcher import Launcher, RunnerClasses
from cairn.k8s.loop import CrashHook, LoopTuning, WorkflowLoop
from cairn.k8s.peering import PeeringGate, PeeringScope
from cairn.k8s.recorder import EventRecorder
from cairn.k8s.resources import RUNNERCLASS_PLURAL
from cairn.k8s.runs import RunLoop, RunTuning
from cairn.k8s.settings import OperatorSettings, from_env, load_operator_key

log = logging.getLogger(__name__)

FINALIZER = "cairn.dev/finalizer"
PROGRESS_FIELD = "status.kopf.progress"
DIFFBASE_FIELD = "status.kopf.diffbase"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class OperatorOptions:
    """Everything an operator process is configured with."""

    settings: OperatorSettings = field(default_factory=OperatorSettings)
    loop_tuning: LoopTuning = field(default_factory=LoopTuning)
    run_tuning: RunTuning = field(default_factory=RunTuning)
    #: Events are aggregated per object over this many seconds
    event_flush_seconds: float = 1.0
    clock: Callable[[], datetime] = utc_now
    #: awaited at named points of a wake; tests make it hang there to crash the operator
    crash: CrashHook | None = None
    #: this replica's Kopf peering identity (``cairn operator`` passes the same one to
    #: Kopf); None: ``$POD_ID`` if set, else no peering gate (see ``peering.py``)
    peer_identity: str | None = None

    @classmethod
    def from_environment(cls) -> OperatorOptions:
        return cls(settings=from_env(os.environ))


class OperatorStartError(CairnError):
    """The operator cannot start (missing CRDs, an unreadable operator key)."""


_options: OperatorOptions | None = None


def configure(options: OperatorOptions | None) -> None:
    """The options the next operator start uses (None: from the environment).
    ``cairn operator`` and tests call it before Kopf starts."""
    global _options
    _options = options


class CairnOperator:
    """The running operator's parts, kept in Kopf's ``memo.cairn``."""

    def __init__(
        self, options: OperatorOptions, cluster: Cluster, peering: PeeringScope | None = None
    ) -> None:
        settings = options.settings
        self.options = options
        self.cluster = cluster
        operator_key = (
            load_operator_key(settings.operator_key_file) if settings.callback_base_url else None
        )
        self.recorder = EventRecorder(
            cluster,
            options.clock,
            flush_seconds=options.event_flush_seconds,
            instance=settings.pod_name or "cairn-operator",
        )
        self.gate = PeeringGate(cluster, peering, options.clock)
        gate = self.gate.active if peering is not None else None
        self.runner_classes = RunnerClasses()
        self.launcher = Launcher(cluster, settings, self.runner_classes, operator_key=operator_key)
        crash_kwargs: dict[str, Any] = {} if options.crash is None else {"crash": options.crash}
        self.workflows = WorkflowLoop(
            cluster,
            self.launcher,
            self.recorder,
            clock=options.clock,
            tuning=options.loop_tuning,
            gate=gate,
            **crash_kwargs,
        )
        self.runs = RunLoop(
            cluster,
            self.recorder,
            settings,
            clock=options.clock,
            tuning=options.run_tuning,
            gate=gate,
            **crash_kwargs,
        )
        # After a pause, the other replica worked: forget what may be stale.
        self.gate.on_resume.append(self.workflows.resync)

    async def start(self) -> None:
        # RunnerClasses are known before any job is rendered; watch events keep them current.
        try:
            classes = await self.cluster.list(RUNNERCLASS_PLURAL, None)
        except NotFound:
            raise OperatorStartError(
                "the API server does not serve runnerclasses.cairn.dev: install the CRDs "
                "first (kubectl apply -k crds/)"
            ) from None
        self.runner_classes.replace_all(classes)

    async def stop(self) -> None:
        await self.workflows.close()
        await self.runs.close()
        await self.recorder.close()
        await self.cluster.close()


class ChangeHandlerUnsupported(CairnError):
    """A change-detecting Kopf handler was registered; Cairn's storage settings forbid it."""


class EventOnlyDiffBase(kopf.StatusDiffBaseStorage):
    """Kopf's diff-base for an operator whose handlers are all ``on.event``.

    Kopf computes an object's essence (a deep copy of the body without its
    status) on every watch event, whether or not a handler will diff it. No
    Cairn handler does, so the essence is empty and nothing is stored; a
    change-detecting handler would need the real thing, and storing its
    essence raises instead of silently diffing nothing."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        raise ChangeHandlerUnsupported(
            "a change-detecting Kopf handler ran, but Cairn keeps no diff-base "
            "(operator.EventOnlyDiffBase): use kopf.on.event, or set a real diff-base storage"
        )


def apply_kopf_settings(kopf_settings: kopf.OperatorSettings, settings: OperatorSettings) -> None:
    kopf_settings.persistence.finalizer = FINALIZER
    kopf_settings.persistence.progress_storage = kopf.StatusProgressStorage(field=PROGRESS_FIELD)
    kopf_settings.persistence.diffbase_storage = EventOnlyDiffBase(field=DIFFBASE_FIELD)
    kopf_settings.posting.level = logging.WARNING
    kopf_settings.peering.lifetime = settings.peering_lifetime_seconds
    if not kopf_settings.peering.standalone:
        kopf_settings.peering.name = settings.peering_name


def peering_scope(
    kopf_settings: kopf.OperatorSettings, options: OperatorOptions
) -> PeeringScope | None:
    """Where this replica's peering records are, as Kopf was told; None: standalone,
    or an identity Cairn cannot know (then nothing is gated)."""
    if kopf_settings.peering.standalone:
        return None
    identity = options.peer_identity or os.environ.get("POD_ID")
    if not identity:
        log.warning(
            "peering without a known identity (set POD_ID): timers are not gated by peering"
        )
        return None
    return PeeringScope(
        name=kopf_settings.peering.name,
        identity=identity,
        priority=kopf_settings.peering.priority,
        namespaces=() if kopf_settings.peering.clusterwide else options.settings.namespaces,
    )


def make_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # An own registry has no default login: in a pod, its service account; else $KUBECONFIG.
        if "KUBERNETES_SERVICE_HOST" in os.environ:
            return kopf.login_with_service_account(**kwargs)
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        options = _options or OperatorOptions.from_environment()
        apply_kopf_settings(settings, options.settings)
        app = CairnOperator(options, Cluster.connect(), peering_scope(settings, options))
        await app.start()
        memo.cairn = app
        # What exists now (modules, Kopf's registries) lives as long as the process:
        # keep it out of the garbage collector's full passes, which otherwise stall
        # every wake for tens of milliseconds once the heap is large.
        gc.collect()
        gc.freeze()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: Any, **_: Any) -> None:
        app = getattr(memo, "cairn", None)
        if app is not None:
            await app.stop()

    handlers_runs.register(registry)
    handlers_workflows.register(registry)
    handlers_sandboxes.register(registry)
    return registry


registry = make_registry()
