"""``on:``: the events that trigger a workflow, and their filters."""

from __future__ import annotations

from cairn.workflow import vocabulary as vocab
from cairn.workflow.cron import CronError, check_cron
from cairn.workflow.filters import FilterPatternError, compile_pattern
from cairn.workflow.model import (
    EventFilter,
    Schedule,
    Triggers,
    WorkflowCallOutput,
    WorkflowCallSecret,
    WorkflowInput,
)
from cairn.workflow.reader import Reader, describe, suggestion
from cairn.workflow.yamltree import Mapping, Node, Scalar, Sequence

#: filters that exclude each other on one event, and what to use instead
_EXCLUSIVE = (("branches", "branches-ignore"), ("tags", "tags-ignore"), ("paths", "paths-ignore"))
_PATTERN_FILTERS = {"branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore"}


def read_triggers(r: Reader, node: Node) -> Triggers | None:
    reader = _TriggerReader(r)
    return reader.read(node)


class _TriggerReader:
    def __init__(self, r: Reader) -> None:
        self.r = r
        self.events: dict[str, EventFilter] = {}
        self.schedule: list[Schedule] = []
        self.dispatch_inputs: dict[str, WorkflowInput] = {}
        self.call_inputs: dict[str, WorkflowInput] = {}
        self.call_outputs: dict[str, WorkflowCallOutput] = {}
        self.call_secrets: dict[str, WorkflowCallSecret] = {}

    def read(self, node: Node) -> Triggers | None:
        r = self.r
        if isinstance(node, Scalar) and node.value is None:
            r.error(node, "'on' must name at least one event (it is empty)")
        elif isinstance(node, Scalar):
            name = self._event_name(node)
            if name is not None:
                self._bare_event(node, name)
        elif isinstance(node, Sequence):
            if not node.items:
                r.error(node, "'on' must list at least one event")
            for item in node.items:
                name = self._event_name(item)
                if name is None:
                    continue
                if name in self.events:
                    r.error(item, f"event {name!r} is listed twice in 'on'")
                    continue
                self._bare_event(item, name)
        elif isinstance(node, Mapping):
            if not node.pairs:
                r.error(node, "'on' must name at least one event")
            for name, key, value in node.items():
                if self._event_name(key) is not None:
                    self._configured_event(name, value)
        if not self.events:
            return None
        return Triggers(
            events=self.events,
            schedule=tuple(self.schedule),
            dispatch_inputs=self.dispatch_inputs,
            call_inputs=self.call_inputs,
            call_outputs=self.call_outputs,
            call_secrets=self.call_secrets,
        )

    # -- events ----------------------------------------------------------------

    def _event_name(self, node: Node) -> str | None:
        name = self.r.text(node, "an event name in 'on'", expressions=False)
        if name is None:
            return None
        if name in vocab.UNSUPPORTED_EVENTS:
            self.r.error(node, vocab.UNSUPPORTED_EVENTS[name])
            return None
        if name not in vocab.EVENTS:
            self.r.error(node, f"unknown event {name!r}{suggestion(name, vocab.EVENTS)}")
            return None
        return name

    def _bare_event(self, node: Node, name: str) -> None:
        if name == "schedule":
            self.r.error(node, "'schedule' needs a list of 'cron' entries (on: {schedule: ...})")
            return
        self.events[name] = EventFilter()

    def _configured_event(self, name: str, value: Node) -> None:
        where = f"on.{name}"
        if name == "schedule":
            self._schedule(value)
            self.events[name] = EventFilter()
            return
        if isinstance(value, Scalar) and value.value is None:
            if name == "workflow_run":
                self.r.error(value, "on.workflow_run is missing the required key 'workflows'")
            self.events[name] = EventFilter()
            return
        mapping = self.r.mapping(value, where)
        if mapping is None:
            return
        if name == "workflow_dispatch":
            self._dispatch(mapping)
        elif name == "workflow_call":
            self._call(mapping)
        else:
            filters = self._filters(name, mapping)
            if filters is None:
                return
            self.events[name] = filters
            return
        self.events[name] = EventFilter()

    def _filters(self, event: str, mapping: Mapping) -> EventFilter | None:
        r = self.r
        where = f"on.{event}"
        allowed = self._allowed_filters(event)
        if not allowed and mapping.pairs:
            r.error(mapping, f"event {event!r} takes no filters; write '{event}:' with no value")
            return None
        found = r.fields(
            mapping,
            allowed,
            f"'{where}'",
            required=("workflows",) if event == "workflow_run" else (),
        )
        for first, second in _EXCLUSIVE:
            if first in found and second in found:
                second_key = next(k for n, k, _ in mapping.items() if n == second)
                r.error(
                    second_key,
                    f"{where}: {first!r} and {second!r} cannot both be used for one event; "
                    f"use '!' patterns in {first!r} to exclude instead",
                )
        values: dict[str, tuple[str, ...] | None] = {}
        for key, node in found.items():
            items = r.string_list(node, f"{where}.{key}", expressions=False)
            if items is None:
                continue
            if key == "types":
                self._check_types(event, node, items)
            elif key in _PATTERN_FILTERS:
                self._check_patterns(node, items, f"{where}.{key}")
            values[key] = items
        return EventFilter(
            types=values.get("types"),
            branches=values.get("branches"),
            branches_ignore=values.get("branches-ignore"),
            tags=values.get("tags"),
            tags_ignore=values.get("tags-ignore"),
            paths=values.get("paths"),
            paths_ignore=values.get("paths-ignore"),
            workflows=values.get("workflows"),
        )

    @staticmethod
    def _allowed_filters(event: str) -> tuple[str, ...]:
        if event == "push":
            return vocab.PUSH_FILTERS
        if event in ("pull_request", "pull_request_target"):
            return vocab.PULL_REQUEST_FILTERS
        if event == "workflow_run":
            return vocab.WORKFLOW_RUN_FILTERS
        if vocab.EVENTS[event] is not None:
            return ("types",)
        return ()

    def _check_types(self, event: str, node: Node, types: tuple[str, ...]) -> None:
        known = vocab.EVENTS[event]
        if not known:  # repository_dispatch: types are the user's own
            return
        items = node.items if isinstance(node, Sequence) else [node]
        for item, value in zip(items, types, strict=False):
            if value not in known:
                self.r.error(
                    item,
                    f"unknown activity type {value!r} for event {event!r}"
                    f"{suggestion(value, known)} (known: {', '.join(known)})",
                )

    def _check_patterns(self, node: Node, patterns: tuple[str, ...], where: str) -> None:
        items = node.items if isinstance(node, Sequence) else [node]
        for item, pattern in zip(items, patterns, strict=False):
            try:
                compile_pattern(pattern)
            except FilterPatternError as exc:
                assert isinstance(item, Scalar)
                quoted = 0 if item.plain else 1
                self.r.error_at(item.line, item.column + quoted + exc.offset, f"{where}: {exc}")

    # -- schedule ----------------------------------------------------------------

    def _schedule(self, node: Node) -> None:
        r = self.r
        seq = r.sequence(node, "on.schedule")
        if seq is None:
            return
        if not seq.items:
            r.error(seq, "on.schedule must list at least one 'cron' entry")
        for item in seq.items:
            entry = r.mapping(item, "an entry of on.schedule")
            if entry is None:
                continue
            found = r.fields(entry, ("cron",), "an on.schedule entry", required=("cron",))
            if "cron" not in found:
                continue
            cron = r.text(found["cron"], "cron", expressions=False)
            if cron is None:
                continue
            try:
                check_cron(cron)
            except CronError as exc:
                r.error(found["cron"], str(exc))
                continue
            self.schedule.append(Schedule(cron=cron))

    # -- workflow_dispatch / workflow_call ---------------------------------------

    def _dispatch(self, mapping: Mapping) -> None:
        found = self.r.fields(mapping, ("inputs",), "'on.workflow_dispatch'")
        if "inputs" in found:
            self.dispatch_inputs = self._inputs(
                found["inputs"], "on.workflow_dispatch.inputs", dispatch=True
            )

    def _call(self, mapping: Mapping) -> None:
        r = self.r
        found = r.fields(mapping, ("inputs", "outputs", "secrets"), "'on.workflow_call'")
        if "inputs" in found:
            self.call_inputs = self._inputs(
                found["inputs"], "on.workflow_call.inputs", dispatch=False
            )
        if "outputs" in found:
            self.call_outputs = self._call_outputs(found["outputs"])
        if "secrets" in found:
            self.call_secrets = self._call_secrets(found["secrets"])

    def _named_entries(self, node: Node, where: str, what: str) -> list[tuple[str, Node]]:
        r = self.r
        if isinstance(node, Scalar) and node.value is None:
            return []
        mapping = r.mapping(node, where)
        if mapping is None:
            return []
        entries = []
        for name, key, value in mapping.items():
            if r.identifier(key, name, what):
                entries.append((name, value))
        return entries

    def _inputs(self, node: Node, where: str, *, dispatch: bool) -> dict[str, WorkflowInput]:
        r = self.r
        inputs: dict[str, WorkflowInput] = {}
        for name, value in self._named_entries(node, where, "input name"):
            here = f"{where}.{name}"
            if isinstance(value, Scalar) and value.value is None and dispatch:
                inputs[name] = WorkflowInput()
                continue
            mapping = r.mapping(value, here)
            if mapping is None:
                continue
            found = r.fields(
                mapping,
                vocab.DISPATCH_INPUT_KEYS if dispatch else vocab.CALL_INPUT_KEYS,
                f"'{here}'",
                required=() if dispatch else ("type",),
            )
            kind = "string"
            if "type" in found:
                types = vocab.DISPATCH_INPUT_TYPES if dispatch else vocab.CALL_INPUT_TYPES
                chosen = r.choice(found["type"], f"{here}.type", types)
                if chosen is None:
                    continue
                kind = chosen
            description = r.optional_text(
                found, "description", f"{here}.description", expressions=False
            )
            required = False
            if "required" in found:
                required_value = r.boolean(found["required"], f"{here}.required", expressions=False)
                required = bool(required_value)
            options: tuple[str, ...] = ()
            if "options" in found:
                if kind != "choice":
                    options_key = next(k for n, k, _ in mapping.items() if n == "options")
                    r.error(options_key, f"{here}.options is only valid with 'type: choice'")
                else:
                    options = (
                        r.string_list(found["options"], f"{here}.options", expressions=False) or ()
                    )
            if kind == "choice" and not options:
                r.error(mapping, f"{here} has 'type: choice' but no 'options'")
            default = None
            if "default" in found:
                default = self._input_default(
                    found["default"], f"{here}.default", kind, options, dispatch
                )
            inputs[name] = WorkflowInput(
                description=description,
                required=required,
                default=default,
                type=kind,
                options=options,
            )
        return inputs

    def _input_default(
        self, node: Node, where: str, kind: str, options: tuple[str, ...], dispatch: bool
    ) -> str | bool | float | int | None:
        r = self.r
        place = "on.workflow_call.inputs.<inputs_id>.default"
        if not dispatch and r.is_expression(node):
            assert isinstance(node, Scalar) and isinstance(node.value, str)
            r.check_template(node, node.value, where, place=place)
            return node.value
        if kind == "boolean":
            value = r.boolean(node, where, expressions=False)
            return value if isinstance(value, bool) else None
        if kind == "number":
            number = r.number(node, where, expressions=False)
            return number if isinstance(number, int | float) else None
        text = r.text(node, where, expressions=not dispatch, place=None if dispatch else place)
        if text is not None and kind == "choice" and options and text not in options:
            r.error(node, f"{where} {text!r} is not one of the options ({', '.join(options)})")
        return text

    def _call_outputs(self, node: Node) -> dict[str, WorkflowCallOutput]:
        r = self.r
        outputs: dict[str, WorkflowCallOutput] = {}
        for name, value in self._named_entries(node, "on.workflow_call.outputs", "output name"):
            here = f"on.workflow_call.outputs.{name}"
            mapping = r.mapping(value, here)
            if mapping is None:
                continue
            found = r.fields(mapping, vocab.CALL_OUTPUT_KEYS, f"'{here}'", required=("value",))
            if "value" not in found:
                continue
            text = r.text(
                found["value"], f"{here}.value", place="on.workflow_call.outputs.<output_id>.value"
            )
            description = r.optional_text(
                found, "description", f"{here}.description", expressions=False
            )
            if text is not None:
                outputs[name] = WorkflowCallOutput(description=description, value=text)
        return outputs

    def _call_secrets(self, node: Node) -> dict[str, WorkflowCallSecret]:
        r = self.r
        secrets: dict[str, WorkflowCallSecret] = {}
        for name, value in self._named_entries(node, "on.workflow_call.secrets", "secret name"):
            here = f"on.workflow_call.secrets.{name}"
            if isinstance(value, Scalar) and value.value is None:
                secrets[name] = WorkflowCallSecret()
                continue
            if not isinstance(value, Mapping):
                r.error(value, f"{here} must be a mapping or empty, not {describe(value)}")
                continue
            found = r.fields(value, vocab.CALL_SECRET_KEYS, f"'{here}'")
            description = r.optional_text(
                found, "description", f"{here}.description", expressions=False
            )
            required = False
            if "required" in found:
                required = bool(r.boolean(found["required"], f"{here}.required", expressions=False))
            secrets[name] = WorkflowCallSecret(description=description, required=required)
        return secrets
