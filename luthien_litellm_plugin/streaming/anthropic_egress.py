"""The policy-facing end of an Anthropic Messages stream: chunks in, well-formed SSE bytes out.

Policies emit normalized chunks. A chunk that is the very chunk ingress made from an upstream
event goes out as that event's exact bytes (re-encoded only when its block index had to
change); a chunk a policy built is converted to Anthropic events. Either way this class owns
the wire rules: `message_start` first, every block opened and closed with indices 0, 1, 2… in
order, all blocks before `message_delta`, `message_stop` last, and a `stop_reason` that agrees
with what was served (`tool_use` only when a `tool_use` block went out).

Like `EgressStream`, nothing is sent until the first event with content, so a policy that
refuses before that still produces a real HTTP error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from litellm.types.utils import ChatCompletionDeltaToolCall, ModelResponseStream

from luthien_litellm_plugin.chunks import (
    content_of,
    create_finish_chunk,
    delta_of,
    delta_text,
    finish_reason_of,
    single_choice,
    tool_calls_of,
    usage_of,
)
from luthien_litellm_plugin.streaming.anthropic_ingress import FRAMING_EVENTS, AnthropicWire, SourceEvent
from luthien_litellm_plugin.streaming.anthropic_sse import SSEEvent
from luthien_litellm_plugin.streaming.anthropic_validator import AnthropicStreamValidator
from luthien_litellm_plugin.streaming.forwarded import ForwardedText
from luthien_litellm_plugin.types import JSONObject

EmitObserver = Callable[[ModelResponseStream], None]
TextObserver = Callable[[str], None]

STOP_REASON_FOR_FINISH = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}
FINISH_FOR_STOP_REASON = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}


@dataclass(slots=True)
class _Block:
    """A content block open on the client's side."""

    index: int
    kind: str
    source_index: object = None
    """The upstream block's index when the block is the upstream's own; None when synthesized."""


class AnthropicEgress:
    """Turns what a policy emits into the Anthropic SSE the client receives (one item per event)."""

    def __init__(
        self,
        observer: EmitObserver,
        wire: AnthropicWire,
        validator: AnthropicStreamValidator | None = None,
        text_observer: TextObserver | None = None,
    ) -> None:
        self._out: list[bytes] = []
        self._observer = observer
        self._text_observer = text_observer
        self._wire = wire
        self._validator = validator
        self._started = False
        self._held: list[tuple[SSEEvent, JSONObject]] = []
        self._open: _Block | None = None
        self._next_index = 0
        self._tool_use_served = False
        self._policy_finish: str | None = None
        self._finished = False
        self.template: ModelResponseStream | None = None
        """The last chunk seen; id/model/created source for chunks the framework builds."""

    @property
    def started(self) -> bool:
        """True once an event with content went out to the client."""
        return self._started

    def take(self) -> list[bytes]:
        """The SSE bytes ready to go to the client since the last call, one item per event."""
        out, self._out = self._out, []
        return out

    def put(self, chunk: ModelResponseStream, *, built: bool = True) -> None:
        """Send a chunk; an upstream chunk is known by identity (its event's exact bytes go out)."""
        if self._finished:
            raise RuntimeError("a chunk was emitted after the stream finished")
        self.template = chunk
        source = self._wire.source_of(chunk)
        if source is None:
            self._put_built(chunk)
        else:
            self._put_source(source, chunk)

    def forward_text(self, delta: ForwardedText) -> None:
        """Send a text delta no policy read (`text_chunks=False` ingress) as its upstream event."""
        if self._finished:
            raise RuntimeError("a chunk was emitted after the stream finished")
        source = delta.source
        if not isinstance(source, SourceEvent):
            raise TypeError(f"not an Anthropic event: {type(source).__name__}")
        if self._text_observer is not None:
            self._text_observer(delta.text)
        if not self._forwarded_delta(source):
            self._put_text(delta.text)

    def finish(self, upstream_finish_reason: str | None) -> None:
        """Close the open block, then send `message_delta` and `message_stop`. Call once, last."""
        if self._finished:
            return
        self._close_open_block()
        if not self._started:
            self._start()
        delta = self._message_delta(upstream_finish_reason)
        self._send(delta)
        stop = self._wire.framing.get("message_stop")
        self._send((stop.event, stop.data) if stop is not None else _built("message_stop", {"type": "message_stop"}))
        self._finished = True
        stop_reason = _stop_reason(delta[1])
        finish_reason = FINISH_FOR_STOP_REASON.get(stop_reason or "", "stop")
        self._observer(create_finish_chunk(finish_reason, like=self.template))

    # ----- upstream chunks forwarded by the policy -----

    def _put_source(self, source: SourceEvent, chunk: ModelResponseStream) -> None:
        kind = source.event.event
        if kind in FRAMING_EVENTS:
            if usage_of(chunk) is not None:
                self._observer(chunk)  # the usage the served message_start / message_delta carry
            return  # sent by `_start` and `finish`, from the upstream's own events
        self._observer(chunk)
        if kind == "content_block_start":
            self._start_source_block(source)
        elif kind == "content_block_delta":
            edited = _edited_delta(source.data, chunk)
            if edited is not None and self._is_open(source):
                self._send(_built(kind, _block_event(kind, self._open_index(), edited)), payload=True)
            elif not self._forwarded_delta(source):  # its block was not served: keep only its text, if any
                self._put_text(content_of(delta_of(chunk.choices[0])) if chunk.choices else None)
        elif kind == "content_block_stop":
            if self._is_open(source):
                self._send(_reindexed(source, self._open_index()))
                self._open = None
        else:  # ping, and event types the engine does not model, pass untouched
            self._send((source.event, source.data))

    def _forwarded_delta(self, source: SourceEvent) -> bool:
        """Send a delta of the open upstream block as its event; False if its block was not
        served (dropped or replaced)."""
        if not self._is_open(source):
            return False
        self._send(_reindexed(source, self._open_index()), payload=True)
        return True

    def _start_source_block(self, source: SourceEvent) -> None:
        self._close_open_block()
        block = source.data.get("content_block")
        kind = str(block.get("type")) if isinstance(block, dict) else ""
        self._open = _Block(self._next_index, kind, source.data.get("index"))
        self._next_index += 1
        self._tool_use_served = self._tool_use_served or kind == "tool_use"
        empty_text = kind == "text" and isinstance(block, dict) and not block.get("text")
        self._send(_reindexed(source, self._open.index), payload=not empty_text)

    def _is_open(self, source: SourceEvent) -> bool:
        return self._open is not None and self._open.source_index == source.data.get("index")

    def _open_index(self) -> int:
        if self._open is None:
            raise RuntimeError("no open block")
        return self._open.index

    # ----- chunks a policy built -----

    def _put_built(self, chunk: ModelResponseStream) -> None:
        self._observer(chunk)
        choice = single_choice(chunk)
        if choice is None:
            return  # usage-only: the upstream's message_delta carries usage
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
        if self._open is None or self._open.kind != "text":
            self._start_built_block("text", {"type": "text", "text": ""})
        delta: JSONObject = {"type": "text_delta", "text": text}
        self._send(_built("content_block_delta", _block_event("content_block_delta", self._open_index(), delta)), True)

    def _put_tool_call(self, call: ChatCompletionDeltaToolCall) -> None:
        arguments = call.function.arguments
        if call.id is not None:
            block: JSONObject = {"type": "tool_use", "id": call.id, "name": call.function.name or "", "input": {}}
            self._start_built_block("tool_use", block)
            self._tool_use_served = True
        elif self._open is None or self._open.kind != "tool_use" or self._open.source_index is not None:
            return  # an argument fragment of a call that was not served: nothing to attach it to
        if arguments:
            delta: JSONObject = {"type": "input_json_delta", "partial_json": arguments}
            self._send(_built("content_block_delta", _block_event("content_block_delta", self._open_index(), delta)))

    def _start_built_block(self, kind: str, block: JSONObject) -> None:
        self._close_open_block()
        self._open = _Block(self._next_index, kind)
        self._next_index += 1
        start: JSONObject = {"type": "content_block_start", "index": self._open.index, "content_block": block}
        self._send(_built("content_block_start", start), payload=kind != "text")

    def _close_open_block(self) -> None:
        if self._open is not None:
            stop: JSONObject = {"type": "content_block_stop", "index": self._open.index}
            self._send(_built("content_block_stop", stop))
            self._open = None

    # ----- framing -----

    def _message_delta(self, upstream_finish_reason: str | None) -> tuple[SSEEvent, JSONObject]:
        source = self._wire.framing.get("message_delta")
        data: JSONObject = (
            source.data
            if source is not None
            else {"type": "message_delta", "delta": {"stop_reason": None, "stop_sequence": None}, "usage": {}}
        )
        upstream_reason = _stop_reason(data)
        reason = upstream_reason
        if self._policy_finish is not None:
            reason = STOP_REASON_FOR_FINISH.get(self._policy_finish, "end_turn")
        elif reason is None:
            reason = STOP_REASON_FOR_FINISH.get(upstream_finish_reason or "stop", "end_turn")
        if reason == "tool_use" and not self._tool_use_served:
            reason = "end_turn"
        if source is not None and reason == upstream_reason:
            return source.event, data
        delta = data.get("delta")
        changed: JSONObject = {**data, "delta": {**(delta if isinstance(delta, dict) else {}), "stop_reason": reason}}
        return _built("message_delta", changed)

    def _start(self) -> None:
        self._started = True
        start = self._wire.framing.get("message_start")
        first = (
            (start.event, start.data) if start is not None else _built("message_start", _message_start(self.template))
        )
        held, self._held = self._held, []
        for event in (first, *held):
            self._write(event)

    def _send(self, event: tuple[SSEEvent, JSONObject], payload: bool = False) -> None:
        if self._started:
            self._write(event)
            return
        self._held.append(event)
        if payload:
            self._start()

    def _write(self, event: tuple[SSEEvent, JSONObject]) -> None:
        if self._validator is not None:
            self._validator.check(event[0], event[1])
        self._out.append(event[0].raw)


ANTHROPIC_PING = b'event: ping\ndata: {"type": "ping"}\n\n'
"""Anthropic's keepalive event (clients ignore it)."""


def encode_event(kind: str, data: JSONObject) -> bytes:
    """One SSE event as Anthropic writes it: `event:` line, compact JSON `data:` line, blank line."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {kind}\ndata: {payload}\n\n".encode()


def _built(kind: str, data: JSONObject) -> tuple[SSEEvent, JSONObject]:
    raw = encode_event(kind, data)
    return SSEEvent(kind, "", raw), data


_EDITABLE_DELTAS = {"text_delta": "text", "input_json_delta": "partial_json"}
"""Delta types whose text a hook's in-place edit of the chunk changes, and the field holding it."""


def _edited_delta(data: JSONObject, chunk: ModelResponseStream) -> JSONObject | None:
    """The delta to serve in place of the upstream's when a hook edited the chunk's text or tool
    input in place (LiteLLM would serialize such an edit on chat); None when it did not."""
    delta = data.get("delta")
    if not isinstance(delta, dict):
        return None
    field = _EDITABLE_DELTAS.get(str(delta.get("type")))
    if field is None:
        return None
    served = delta_text(chunk)
    return None if served == (delta.get(field) or "") else {"type": delta["type"], field: served}


def _reindexed(source: SourceEvent, index: int) -> tuple[SSEEvent, JSONObject]:
    if source.data.get("index") == index:
        return source.event, source.data
    return _built(source.event.event, {**source.data, "index": index})


def _block_event(kind: str, index: int, delta: JSONObject) -> JSONObject:
    return {"type": kind, "index": index, "delta": delta}


def _stop_reason(message_delta: JSONObject) -> str | None:
    delta = message_delta.get("delta")
    reason = delta.get("stop_reason") if isinstance(delta, dict) else None
    return reason if isinstance(reason, str) else None


def _message_start(like: ModelResponseStream | None) -> JSONObject:
    """A `message_start` for a stream whose upstream sent none (it failed before its first event)."""
    return {
        "type": "message_start",
        "message": {
            "id": f"msg_{like.id}" if like is not None else "msg_luthien",
            "type": "message",
            "role": "assistant",
            "model": (like.model if like is not None else None) or "",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        },
    }
