"""``github.run_number``: one counter per (repository, workflow file), durable.

GitHub numbers the runs of each workflow of a repository 1, 2, 3, ...; a
re-run keeps its number. Cairn keeps the counters in one ConfigMap per
namespace, ``cairn-run-numbers``: a key per (repository, workflow path),
whose value is the last number given out. A CIRun takes the next number of
each of its triggered workflows in ONE conditional JSON patch (a ``test`` of
the ConfigMap's ``resourceVersion``, so two runs allocating at once cannot
both get the same numbers: the loser re-reads and tries again), and writes
the numbers into its status (``status.runNumbers``) before it creates its
CIWorkflows. A replay after a crash reads them from there and never
allocates again. A crash between the increment and that checkpoint leaves a
gap in the sequence (the numbers are taken, never used): GitHub does not
promise gap-free numbers either, only unique, increasing ones.

Keys: the repository is the event payload's ``repository.full_name`` or
else ``spec.source.repo`` (a github.com URL reduced to ``owner/name``, any
other to ``host/path``), lower-cased as GitHub names are case-insensitive;
inline workflows with neither count under the repository ``_inline``. The
workflow is its path in the repository (``.github/workflows/ci.yml``). A key
is a readable folding of both plus a hash of the exact pair, since ConfigMap
keys allow only ``[-._a-zA-Z0-9]``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from cairn.errors import CairnError
from cairn.k8s import resources
from cairn.k8s.cluster import AlreadyExists, Cluster, Conflict, KubeApiError, NotFound
from cairn.k8s.resources import CIRunSpec

CONFIGMAP_NAME = "cairn-run-numbers"
#: the repository of inline workflows whose event names none
INLINE_REPOSITORY = "_inline"
#: ConfigMap data keys: at most 253 characters of ``[-._a-zA-Z0-9]``
_KEY_UNSAFE = re.compile(r"[^-._a-zA-Z0-9]+")
_READABLE_LIMIT = 200
#: conflicting allocations retried before the wake gives up (and retries later)
MAX_ATTEMPTS = 20


class RunNumberError(CairnError):
    """The run-number counter cannot be used (an edited, non-numeric value)."""


def repository_identity(spec: CIRunSpec) -> str:
    """The repository whose workflows the run's numbers count."""
    repository = spec.event.payload.get("repository")
    if isinstance(repository, Mapping):
        full_name = repository.get("full_name")
        if isinstance(full_name, str) and full_name.strip():
            return full_name.strip().lower()
    if spec.source is not None:
        return _repository_of_url(spec.source.repo)
    return INLINE_REPOSITORY


def _repository_of_url(url: str) -> str:
    text = url.strip()
    scp = re.match(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+)$", text)
    if "://" not in text and scp is not None:
        host, path = scp.group(1), scp.group(2)
    else:
        parts = urlsplit(text)
        host, path = parts.hostname or "", parts.path
    path = path.strip("/").removesuffix(".git").strip("/")
    if host.lower() in ("github.com", "www.github.com"):
        return path.lower()
    return f"{host}/{path}".strip("/").lower()


def counter_key(repository: str, workflow_path: str) -> str:
    """The ConfigMap key of one (repository, workflow path) counter."""
    identity = f"{repository}\n{workflow_path}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    readable = _KEY_UNSAFE.sub("_", f"{repository}--{workflow_path}").strip("._-")
    return f"{readable[:_READABLE_LIMIT]}.{digest}"


def next_numbers(data: Mapping[str, str], keys: Sequence[str], configmap: str) -> dict[str, int]:
    """The number each key gives out next (its value + 1; a new key starts at 1)."""
    numbers: dict[str, int] = {}
    for key in keys:
        raw = data.get(key)
        if raw is None:
            numbers[key] = 1
            continue
        try:
            last = int(raw.strip())
        except ValueError:
            last = -1
        if last < 0:
            raise RunNumberError(
                f"ConfigMap {configmap} key {key} holds {raw!r}, not the last run number "
                "given out (a whole number >= 0): fix or remove the key"
            )
        numbers[key] = last + 1
    return numbers


async def allocate(cluster: Cluster, namespace: str, keys: Sequence[str]) -> dict[str, int]:
    """Take the next number of every key at once; each key at most once."""
    unique = sorted(set(keys))
    for _ in range(MAX_ATTEMPTS):
        configmap = await cluster.find("configmaps", namespace, CONFIGMAP_NAME)
        if configmap is None:
            numbers = dict.fromkeys(unique, 1)
            try:
                await cluster.create("configmaps", namespace, _new_configmap(numbers))
            except AlreadyExists:
                continue  # another run created it first: take numbers from it
            return numbers
        data: Mapping[str, str] = configmap.get("data") or {}
        where = f"{namespace}/{CONFIGMAP_NAME}"
        numbers = next_numbers(data, unique, where)
        try:
            await cluster.json_patch(
                "configmaps", namespace, CONFIGMAP_NAME, _increment(configmap, numbers)
            )
        except (Conflict, NotFound):
            continue  # someone allocated (or deleted it) meanwhile: read again
        return numbers
    raise KubeApiError(
        f"could not allocate run numbers in {namespace}/{CONFIGMAP_NAME}: "
        f"{MAX_ATTEMPTS} conflicting updates in a row",
        api_status=503,
    )


def _new_configmap(numbers: Mapping[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIGMAP_NAME,
            "labels": {resources.LABEL_MANAGED_BY: resources.MANAGED_BY},
            "annotations": {
                "cairn.dev/description": "github.run_number: the last number given out per "
                "repository and workflow file"
            },
        },
        "data": {key: str(number) for key, number in numbers.items()},
    }


def _increment(configmap: Mapping[str, Any], numbers: Mapping[str, int]) -> list[dict[str, Any]]:
    version = configmap["metadata"]["resourceVersion"]
    operations: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": version}
    ]
    if not configmap.get("data"):
        operations.append({"op": "add", "path": "/data", "value": {}})
    for key, number in sorted(numbers.items()):
        operations.append({"op": "add", "path": f"/data/{key}", "value": str(number)})
    return operations
