"""The policy-facing end of an OpenAI Responses stream: chunks in, well-formed Responses events out.

Policies emit normalized chunks. A chunk that is the very chunk ingress made from an upstream
event goes out as that event object (so LiteLLM serializes it exactly as it would without the
plugin), copied only when a number in it must change; a chunk a policy built becomes Responses
events. Either way this class owns the wire rules: `response.created` first; `sequence_number`
0, 1, 2…; output items numbered 0, 1, 2… in the order they are served (re-numbered when one was
dropped or added) and content parts 0, 1, 2… within their item; every `*.done` event and the
final `response.completed` stating exactly what was served (a policy's text, not the upstream's),
with the upstream's usage, status and `incomplete_details`.

Like `EgressStream`, nothing is sent until the first event with content, so a policy that
refuses before that still produces a real HTTP error.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from litellm.types.utils import ChatCompletionDeltaToolCall, ModelResponseStream

from luthien_litellm_plugin.chunks import (
    content_of,
    create_finish_chunk,
    delta_of,
    delta_text,
    finish_reason_of,
    single_choice,
    tool_calls_of,
)
from luthien_litellm_plugin.streaming import responses_events as ev
from luthien_litellm_plugin.streaming.forwarded import ForwardedText
from luthien_litellm_plugin.streaming.responses_events import Event, build_event, int_field, plain_object, with_fields
from luthien_litellm_plugin.streaming.responses_ingress import ResponsesWire, SourceEvent
from luthien_litellm_plugin.streaming.responses_validator import ResponsesStreamValidator
from luthien_litellm_plugin.types import JSONObject, JSONValue

EmitObserver = Callable[[ModelResponseStream], None]
TextObserver = Callable[[str], None]

INCOMPLETE_REASON_FOR_FINISH = {"length": "max_output_tokens", "content_filter": "content_filter"}
"""Chat finish reasons that make a response `incomplete`, with the Responses reason."""
FINISH_FOR_INCOMPLETE_REASON = {"max_output_tokens": "length", "content_filter": "content_filter"}
EMPTY_TEXT_PART: JSONObject = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}


@dataclass(eq=False)
class _Part:
    """A content part of a served message item."""

    index: int
    kind: str
    fields: JSONObject
    """The part as announced (`content_part.added`)."""
    source_index: int | None = None
    text: list[str] = field(default_factory=list)
    done: bool = False

    def served(self, upstream: JSONObject | None = None) -> JSONObject:
        """The part with the text served: the upstream's own part (else as announced), text replaced."""
        base = upstream if upstream is not None else self.fields
        return {**base, "text": "".join(self.text)} if self.kind == "output_text" else base


@dataclass(eq=False)
class _Item:
    """An output item on the client's side."""

    index: int
    fields: JSONObject
    """The item as announced (`output_item.added`)."""
    source_index: int | None = None
    """The upstream's `output_index` when the item is the upstream's own; None when built."""
    parts: list[_Part] = field(default_factory=list)
    parts_by_source: dict[int, _Part] = field(default_factory=dict)
    arguments: list[str] = field(default_factory=list)
    final: object = None
    """The item as its `output_item.done` served it (the upstream's own object when unchanged)."""

    @property
    def kind(self) -> str:
        return str(self.fields.get("type"))

    @property
    def item_id(self) -> str:
        return str(self.fields.get("id"))

    @property
    def done(self) -> bool:
        return self.final is not None

    def open_text_part(self) -> _Part | None:
        for part in reversed(self.parts):
            if not part.done and part.kind == "output_text":
                return part
        return None

    def served(self, status: str, upstream: JSONObject | None = None) -> JSONObject:
        """The item as served: the upstream's completed item (else as announced) with the served parts
        or arguments, and `status`."""
        served: JSONObject = {**(upstream if upstream is not None else self.fields)}
        if "status" in served or self.kind in ("message", "function_call"):
            served["status"] = status
        if self.kind == "message":
            content = served.get("content") if upstream is not None else None
            originals = content if isinstance(content, list) else []
            served["content"] = [part.served(_part_at(originals, part.source_index)) for part in self.parts]
        elif self.kind == "function_call":
            served["arguments"] = "".join(self.arguments)
        return served


def _part_at(parts: list[JSONValue], index: int | None) -> JSONObject | None:
    if index is None or not 0 <= index < len(parts):
        return None
    part = parts[index]
    return part if isinstance(part, dict) else None


class ResponsesEgress:
    """Turns what a policy emits into the Responses events the client receives (one item per event)."""

    def __init__(
        self,
        observer: EmitObserver,
        wire: ResponsesWire,
        validator: ResponsesStreamValidator | None = None,
        text_observer: TextObserver | None = None,
    ) -> None:
        self._out: list[Event] = []
        self._observer = observer
        self._text_observer = text_observer
        self._wire = wire
        self._validator = validator
        self._started = False
        self._held: list[tuple[Event, bool]] = []
        self._sequence = 0
        self._items: list[_Item] = []
        self._by_source: dict[int, _Item] = {}
        self._built: _Item | None = None
        """The item the framework opened for a policy's text or tool call, while it is open."""
        self._output_changed = False
        self._policy_finish: str | None = None
        self._finished = False
        self.template: ModelResponseStream | None = None
        """The last chunk seen; id/model/created source for chunks the framework builds."""

    @property
    def started(self) -> bool:
        """True once an event with content went out to the client."""
        return self._started

    @property
    def finished(self) -> bool:
        """True once the stream's last event (`response.completed`, or `response.failed`) was written."""
        return self._finished

    def take(self) -> list[Event]:
        """The events ready to go to the client since the last call, in order."""
        out, self._out = self._out, []
        return out

    def put(self, chunk: ModelResponseStream, *, built: bool = True) -> None:
        """Send a chunk; an upstream chunk is known by identity (its very event goes out)."""
        if self._finished:
            raise RuntimeError("a chunk was emitted after the stream finished")
        self.template = chunk
        source = self._wire.source_of(chunk)
        if source is None:
            self._put_built(chunk)
        else:
            self._put_source(source, chunk)

    def finish(self, upstream_finish_reason: str | None) -> None:
        """Close what is open, then send `response.completed` (or `.incomplete`). Call once, last."""
        if self._finished:
            return
        self._close_built()
        for item in self._items:
            if not item.done:
                self._close_item(item)
        if not self._started:
            self._start()
        terminal = self._terminal(upstream_finish_reason)
        self._send(terminal)
        self._finished = True
        self._observer(self._finish_chunk(terminal))

    def failed(self, code: str, message: str) -> Event:
        """A `response.failed` event ending the stream served so far, for an error after it started.

        Its output lists the items served so far (those still open as `incomplete`).
        """
        if self._finished:
            raise RuntimeError("no stream to end: it has ended")
        response = self._response_fields(ev.FAILED)
        response.update(status="failed", error={"code": code, "message": message}, incomplete_details=None)
        response["output"] = [self._final_fields(item, "incomplete") for item in self._items]
        event = build_event(ev.FAILED, {"response": response, "sequence_number": self._sequence})
        self._sequence += 1
        self._finished = True
        if self._validator is not None:
            self._validator.check(event)
        return event

    # ----- upstream events forwarded by the policy -----

    def forward_text(self, delta: ForwardedText) -> None:
        """Send a text delta no policy read (`text_chunks=False` ingress) as its upstream event."""
        if self._finished:
            raise RuntimeError("a chunk was emitted after the stream finished")
        source = delta.source
        if not isinstance(source, SourceEvent):
            raise TypeError(f"not a Responses event: {type(source).__name__}")
        if self._text_observer is not None:
            self._text_observer(delta.text)
        self._put_source_event(source)

    def _put_source(self, source: SourceEvent, chunk: ModelResponseStream) -> None:
        if source.kind in ev.FRAMING_EVENTS:
            return  # sent by `_start` and `finish`, from the upstream's own events
        self._observer(chunk)
        if source.kind in _EDITABLE_DELTAS:  # a hook's in-place edit of the chunk is served (as on chat)
            served = delta_text(chunk)
            if served != (source.event.get("delta") or ""):
                source = SourceEvent(with_fields(source.event, delta=served), source.kind)
        self._put_source_event(source)

    def _put_source_event(self, source: SourceEvent) -> None:
        kind = source.kind
        event = source.event
        if kind == ev.ITEM_ADDED:
            self._add_source_item(event)
            return
        source_index = int_field(event, "output_index")
        if source_index is None:  # not about an output item: passes untouched
            self._send(event)
            return
        item = self._by_source.get(source_index)
        if item is None or item.done:  # its item was not served (dropped or replaced): keep only its text
            self._put_text(_text_delta(kind, event))
            return
        if kind == ev.ITEM_DONE:
            self._close_source_item(item, event)
        elif kind in (ev.PART_ADDED, ev.TEXT_DELTA, ev.TEXT_DONE, ev.PART_DONE):
            self._put_source_part_event(kind, event, item)
        elif kind == ev.ARGUMENTS_DELTA:
            item.arguments.append(str(event.get("delta") or ""))
            self._send(self._renumbered(event, item), payload=True)
        elif kind == ev.ARGUMENTS_DONE:
            arguments = "".join(item.arguments)
            if event.get("arguments") != arguments:
                event = with_fields(event, arguments=arguments)
            self._send(self._renumbered(event, item))
        else:  # reasoning summaries, refusals, annotations, tool progress…: pass untouched, renumbered
            content_index = int_field(event, "content_index")
            part = item.parts_by_source.get(content_index) if content_index is not None else None
            self._send(self._renumbered(event, item, part), payload=True)

    def _add_source_item(self, event: Event) -> None:
        self._close_built()
        source_index = int_field(event, "output_index")
        item = _Item(len(self._items), plain_object(event.get("item")), source_index)
        self._items.append(item)
        if source_index is not None:
            self._by_source[source_index] = item
        self._output_changed = self._output_changed or item.index != source_index
        self._send(self._renumbered(event, item), payload=item.kind != "message")

    def _put_source_part_event(self, kind: str, event: Event, item: _Item) -> None:
        source_index = int_field(event, "content_index")
        if kind == ev.PART_ADDED:
            fields = plain_object(event.get("part"))
            part = _Part(len(item.parts), str(fields.get("type")), fields, source_index)
            item.parts.append(part)
            if source_index is not None:
                item.parts_by_source[source_index] = part
            self._send(self._renumbered(event, item, part))
            return
        found = item.parts_by_source.get(source_index) if source_index is not None else None
        if found is None or found.done:  # its part was not served: keep only its text
            self._put_text(_text_delta(kind, event))
            return
        if kind == ev.TEXT_DELTA:
            found.text.append(str(event.get("delta") or ""))
            self._send(self._renumbered(event, item, found), payload=True)
            return
        if kind == ev.TEXT_DONE:
            text = "".join(found.text)
            if event.get("text") != text:
                event = with_fields(event, text=text)
        else:
            found.done = True
            upstream = plain_object(event.get("part"))
            served = found.served(upstream)
            if served != upstream:
                event = build_event(kind, {**plain_object(event), "part": served})
        self._send(self._renumbered(event, item, found))

    def _close_source_item(self, item: _Item, event: Event) -> None:
        self._close_parts(item)
        upstream = plain_object(event.get("item"))
        served = item.served(str(upstream.get("status", "completed")), upstream)
        if served == upstream:
            item.final = event.get("item")
            self._send(self._renumbered(event, item))
            return
        item.final = served
        self._output_changed = True
        self._send(self._built_event(ev.ITEM_DONE, {"output_index": item.index, "item": item.final}))

    # ----- chunks a policy built -----

    def _put_built(self, chunk: ModelResponseStream) -> None:
        self._observer(chunk)
        choice = single_choice(chunk)
        if choice is None:
            return  # usage-only: the upstream's response.completed carries usage
        delta = delta_of(choice)
        self._put_text(content_of(delta))
        for call in tool_calls_of(delta) or []:
            if isinstance(call, ChatCompletionDeltaToolCall):
                self._put_tool_call(call)
        reason = finish_reason_of(choice)
        if reason:
            self._policy_finish = reason

    def _put_text(self, text: str | None) -> None:
        if not text:
            return
        item, part = self._text_target()
        part.text.append(text)
        fields: JSONObject = {"item_id": item.item_id, "output_index": item.index, "content_index": part.index}
        self._send(self._built_event(ev.TEXT_DELTA, {**fields, "delta": text, "logprobs": []}), payload=True)

    def _text_target(self) -> tuple[_Item, _Part]:
        """Where a policy's text goes: the open message item (the framework's, else the latest upstream
        one still open) and its open text part, opened if need be; else a new message item."""
        item = self._built if self._built is not None and self._built.kind == "message" else None
        if item is None:
            item = next((i for i in reversed(self._items) if not i.done and i.kind == "message"), None)
        if item is None:
            fields: JSONObject = {
                "id": f"msg_{uuid.uuid4().hex}",
                "type": "message",
                "status": "in_progress",
                "content": [],
                "role": "assistant",
            }
            item = self._open_built_item(fields)
        part = item.open_text_part()
        if part is None:
            part = _Part(len(item.parts), "output_text", dict(EMPTY_TEXT_PART))
            item.parts.append(part)
            self._output_changed = True
            fields = {"item_id": item.item_id, "output_index": item.index, "content_index": part.index}
            self._send(self._built_event(ev.PART_ADDED, {**fields, "part": part.fields}))
        return item, part

    def _put_tool_call(self, call: ChatCompletionDeltaToolCall) -> None:
        arguments = call.function.arguments
        if call.id is not None:
            fields: JSONObject = {
                "id": f"fc_{call.id}",
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": call.id,
                "name": call.function.name or "",
            }
            item = self._open_built_item(fields)
        elif self._built is not None and self._built.kind == "function_call":
            item = self._built
        else:
            return  # an argument fragment of a call that was not served: nothing to attach it to
        if arguments:
            item.arguments.append(arguments)
            where: JSONObject = {"item_id": item.item_id, "output_index": item.index}
            self._send(self._built_event(ev.ARGUMENTS_DELTA, {**where, "delta": arguments}), payload=True)

    def _open_built_item(self, fields: JSONObject) -> _Item:
        self._close_built()
        item = _Item(len(self._items), fields)
        self._items.append(item)
        self._built = item
        self._output_changed = True
        added = self._built_event(ev.ITEM_ADDED, {"output_index": item.index, "item": fields})
        self._send(added, payload=item.kind != "message")
        return item

    def _close_built(self) -> None:
        if self._built is not None:
            built, self._built = self._built, None
            self._close_item(built)

    def _close_item(self, item: _Item) -> None:
        """Close an item with events the framework writes (its parts first)."""
        self._close_parts(item)
        if item.kind == "function_call":
            where: JSONObject = {"item_id": item.item_id, "output_index": item.index}
            self._send(self._built_event(ev.ARGUMENTS_DONE, {**where, "arguments": "".join(item.arguments)}))
        item.final = item.served("completed")
        self._output_changed = True
        self._send(self._built_event(ev.ITEM_DONE, {"output_index": item.index, "item": item.final}))

    def _close_parts(self, item: _Item) -> None:
        for part in item.parts:
            if part.done:
                continue
            part.done = True
            self._output_changed = True
            where: JSONObject = {"item_id": item.item_id, "output_index": item.index, "content_index": part.index}
            if part.kind == "output_text":
                text_done: JSONObject = {**where, "text": "".join(part.text), "logprobs": []}
                self._send(self._built_event(ev.TEXT_DONE, text_done))
            self._send(self._built_event(ev.PART_DONE, {**where, "part": part.served()}))

    # ----- framing -----

    def _terminal(self, upstream_finish_reason: str | None) -> Event:
        source = self._wire.terminal
        kind, reason = self._ending(source, upstream_finish_reason)
        unchanged = source is not None and ev.kind_of(source) == kind and not self._output_changed
        if source is not None and unchanged and _output_count(source) == len(self._items):  # none dropped at the end
            return source
        response = self._response_fields(kind)
        response["status"] = "completed" if kind == ev.COMPLETED else "incomplete"
        response["incomplete_details"] = {"reason": reason} if reason is not None else None
        response["output"] = [self._final_fields(item, "completed") for item in self._items]
        return self._built_event(kind, {"response": response})

    def _ending(self, source: Event | None, upstream_finish_reason: str | None) -> tuple[str, str | None]:
        """(terminal event type, incomplete reason) agreeing with the upstream and the policy's finish."""
        if self._policy_finish is None and source is not None:
            kind = ev.kind_of(source)
            if kind == ev.COMPLETED:
                return kind, None
            details = plain_object(plain_object(source.get("response")).get("incomplete_details"))
            return kind, str(details.get("reason") or "max_output_tokens")
        finish = self._policy_finish or upstream_finish_reason or "stop"
        reason = INCOMPLETE_REASON_FOR_FINISH.get(finish)
        return (ev.INCOMPLETE, reason) if reason is not None else (ev.COMPLETED, None)

    def _response_fields(self, kind: str) -> JSONObject:
        """The upstream's response object for the ending (`kind`), else its opening one, as JSON."""
        for name in (kind, ev.COMPLETED, ev.INCOMPLETE, ev.IN_PROGRESS, ev.CREATED):
            event = self._wire.framing.get(name)
            if event is not None:
                return plain_object(event.get("response"))
        return _response_like(self.template, "in_progress")

    def _final_fields(self, item: _Item, open_status: str) -> JSONValue:
        if item.final is None:
            return item.served(open_status)
        return ev.plain(item.final)

    def _finish_chunk(self, terminal: Event) -> ModelResponseStream:
        """The served ending as a chunk for the recorder: finish reason and the upstream's usage."""
        if ev.kind_of(terminal) == ev.INCOMPLETE:
            details = plain_object(plain_object(terminal.get("response")).get("incomplete_details"))
            reason = FINISH_FOR_INCOMPLETE_REASON.get(str(details.get("reason")), "length")
        else:
            reason = "tool_calls" if any(item.kind == "function_call" for item in self._items) else "stop"
        source = self._wire.terminal_chunk
        if source is None:
            return create_finish_chunk(reason, like=self.template)
        choice = source.choices[0] if source.choices else None
        if choice is not None and finish_reason_of(choice) != reason:
            return source.model_copy(update={"choices": [choice.model_copy(update={"finish_reason": reason})]})
        return source

    def _start(self) -> None:
        self._started = True
        opening = self._wire.opening or [self._built_event(ev.CREATED, {"response": _response_like(self.template)})]
        held, self._held = self._held, []
        for event in opening:
            self._write(event)
        for event, _ in held:
            self._write(event)

    def _renumbered(self, event: Event, item: _Item, part: _Part | None = None) -> Event:
        changes: dict[str, object] = {}
        if int_field(event, "output_index") != item.index:
            changes["output_index"] = item.index
        if part is not None and int_field(event, "content_index") != part.index:
            changes["content_index"] = part.index
        if not changes:
            return event
        self._output_changed = True
        return with_fields(event, **changes)

    def _built_event(self, kind: str, fields: JSONObject) -> Event:
        return build_event(kind, {**fields, "sequence_number": -1})  # numbered when written

    def _send(self, event: Event, payload: bool = False) -> None:
        if self._started:
            self._write(event)
            return
        self._held.append((event, payload))
        if payload:
            self._start()

    def _write(self, event: Event) -> None:
        if int_field(event, "sequence_number") != self._sequence:
            event = with_fields(event, sequence_number=self._sequence)
        self._sequence += 1
        if self._validator is not None:
            self._validator.check(event)
        self._out.append(event)


_EDITABLE_DELTAS = frozenset({ev.TEXT_DELTA, ev.ARGUMENTS_DELTA})
"""Events whose `delta` a hook's in-place edit of the chunk changes."""


def _text_delta(kind: str, event: Event) -> str | None:
    delta = event.get("delta") if kind == ev.TEXT_DELTA else None
    return delta if isinstance(delta, str) else None


def _output_count(terminal: Event) -> int | None:
    response = terminal.get("response")
    output = response.get("output") if isinstance(response, dict) else getattr(response, "output", None)
    return len(output) if isinstance(output, list) else None


def _response_like(like: ModelResponseStream | None, status: str = "in_progress") -> JSONObject:
    """A response object for a stream whose upstream sent none (it failed before its first event)."""
    return {
        "id": f"resp_{like.id}" if like is not None and like.id else f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": like.created if like is not None else int(time.time()),
        "status": status,
        "model": (like.model if like is not None else None) or "",
        "output": [],
    }
