"""The two views of Events: core/v1 ``Event`` and ``events.k8s.io/v1`` ``Event``.

On a real server both APIs serve the same stored objects; an Event created
through one is listed through the other with fields renamed. The emulator
stores the core/v1 shape and converts at the API boundary.
"""

from __future__ import annotations

from typing import Any

# events.k8s.io/v1 field -> core/v1 field
_V1_TO_CORE = {
    "regarding": "involvedObject",
    "related": "related",
    "note": "message",
    "reason": "reason",
    "type": "type",
    "action": "action",
    "eventTime": "eventTime",
    "reportingController": "reportingComponent",
    "reportingInstance": "reportingInstance",
    "series": "series",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_CORE_TO_V1 = {core: v1 for v1, core in _V1_TO_CORE.items()}
_SHARED = ("apiVersion", "kind", "metadata")


def events_v1_to_core(obj: dict[str, Any]) -> dict[str, Any]:
    result = {k: obj[k] for k in _SHARED if k in obj}
    for key, value in obj.items():
        if key in _V1_TO_CORE:
            result[_V1_TO_CORE[key]] = value
    return result


def core_to_events_v1(obj: dict[str, Any]) -> dict[str, Any]:
    result = {k: obj[k] for k in _SHARED if k in obj}
    for key, value in obj.items():
        if key in _CORE_TO_V1:
            result[_CORE_TO_V1[key]] = value
    return result
