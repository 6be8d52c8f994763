"""Test helpers for Anthropic Messages streams: upstream bytes from the fake, serving, reading."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import cast

from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent

from luthien_litellm_plugin.orchestration.policy_orchestrator import PolicyOrchestrator
from luthien_litellm_plugin.streaming.anthropic_sse import SSEEvent, SSEParser
from luthien_litellm_plugin.streaming.anthropic_validator import validate_anthropic_stream
from luthien_litellm_plugin.types import RequestMessage
from tests.fakes.anthropic_upstream import anthropic_stream_events
from tests.fakes.common import Ids, coalesce_writes
from tests.fakes.scenarios import build_scenario, parse_options
from tests.streams import SPAN


def upstream_events(scenario: str, seed: str = "seed") -> list[bytes]:
    """The fake Anthropic upstream's events for `scenario` (e.g. "thinking", "tool_only chunks:3")."""
    body = {"messages": [{"role": "user", "content": f"scenario:{scenario}"}]}
    return anthropic_stream_events(build_scenario(parse_options(body), "anthropic"), Ids(seed), "claude-test")


Block = tuple[dict[str, object], Sequence[dict[str, object]]]
"""A content block's `content_block` and its deltas."""


def message_events(blocks: Sequence[Block], stop_reason: str = "tool_use") -> list[bytes]:
    """The SSE events of a streamed message made of `blocks`, framed as Anthropic frames it."""
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "content": []}
    usage = {"input_tokens": 3, "output_tokens": 1}
    events = [sse_event("message_start", {"type": "message_start", "message": {**message, "usage": usage}})]
    for index, (block, deltas) in enumerate(blocks):
        start = {"type": "content_block_start", "index": index, "content_block": block}
        events.append(sse_event("content_block_start", start))
        for delta in deltas:
            events.append(
                sse_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            )
        events.append(sse_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop = {"stop_reason": stop_reason, "stop_sequence": None}
    events.append(sse_event("message_delta", {"type": "message_delta", "delta": stop, "usage": {"output_tokens": 9}}))
    events.append(sse_event("message_stop", {"type": "message_stop"}))
    return events


def text_block(*deltas: str, opening: str = "") -> Block:
    return {"type": "text", "text": opening}, [{"type": "text_delta", "text": delta} for delta in deltas]


def tool_use_block(call_id: str, name: str, *fragments: str) -> Block:
    block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
    return block, [{"type": "input_json_delta", "partial_json": fragment} for fragment in fragments]


def sse_event(kind: str, data: dict[str, object]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def cut(events: Sequence[bytes]) -> list[bytes]:
    """The events cut into TCP-like reads: several per read, split mid-JSON, newline apart."""
    return coalesce_writes(events)


def messages_request() -> RequestMessage:
    return RequestMessage(
        model="claude-test", messages=[{"role": "user", "content": "hi"}], max_tokens=100, stream=True
    )


async def items(writes: Sequence[bytes]) -> AsyncIterator[bytes]:
    for item in writes:
        yield item


async def serve_anthropic(
    orchestrator: PolicyOrchestrator, writes: Sequence[bytes], transaction_id: str = "t"
) -> bytes:
    """Run the reads through request + `stream_anthropic_response`, check the wire rules, return the bytes."""
    final = await orchestrator.process_request(messages_request(), transaction_id, SPAN)
    served = [item async for item in orchestrator.stream_anthropic_response(items(writes), transaction_id, SPAN, final)]
    body = b"".join(served)
    assert validate_anthropic_stream(parse(body)) == []
    return body


def parse(body: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    events = parser.feed(body)
    assert parser.pending == b""
    return events


def accumulate(body: bytes) -> Message:
    """The message the anthropic SDK's own stream accumulator builds from these bytes."""
    snapshot: Message | None = None
    json_buffers: dict[int, bytes] = {}
    for event in parse(body):
        if event.event == "ping":
            continue
        # Like the SDK's own stream: the event is constructed from its JSON without validation.
        parsed = cast(RawMessageStreamEvent, json.loads(event.data))
        snapshot = accumulate_event(event=parsed, current_snapshot=snapshot, json_bufs=json_buffers)
    assert snapshot is not None
    return snapshot


def text_of(message: Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def tool_uses(message: Message) -> list[tuple[str, dict[str, object]]]:
    return [(block.name, dict(block.input)) for block in message.content if block.type == "tool_use"]  # type: ignore[arg-type]
