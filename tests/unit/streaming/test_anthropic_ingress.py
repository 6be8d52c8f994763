"""The Anthropic ingress: one chunk per event, as LiteLLM's own converter makes them."""

from __future__ import annotations

import json

import pytest
from litellm.llms.anthropic.chat.handler import ModelResponseIterator
from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.errors import UpstreamStreamError
from luthien_litellm_plugin.streaming.anthropic_ingress import AnthropicIngress, AnthropicWire, SourceEvent
from luthien_litellm_plugin.streaming.forwarded import ForwardedText
from tests.anthropic_streams import (
    cut,
    items,
    message_events,
    parse,
    sse_event,
    text_block,
    tool_use_block,
    upstream_events,
)


def blocks_in_every_order() -> list[bytes]:
    """Text between tool calls, a text block opened with text, and a call with no arguments
    (which LiteLLM completes with `{}` from the parser's block state), then a ping."""
    events = message_events(
        [
            tool_use_block("toolu_a", "a", '{"x": 1}'),
            text_block("between"),
            tool_use_block("toolu_b", "b", ""),
            text_block(" and more", opening="opened with text"),
        ]
    )
    return [*events[:-1], b'event: ping\ndata: {"type": "ping"}\n\n', events[-1]]


@pytest.mark.parametrize("scenario", ["text", "thinking", "parallel_tool_calls", "redacted_thinking", "blocks"])
async def test_chunks_equal_litellms_own_conversion_event_by_event(scenario: str) -> None:
    events = blocks_in_every_order() if scenario == "blocks" else upstream_events(scenario)
    wire = AnthropicWire()
    chunks = [chunk async for batch in AnthropicIngress(wire).batches(items(cut(events))) for chunk in batch]
    converter = ModelResponseIterator(streaming_response=None, sync_stream=False)
    expected = [converter.chunk_parser(event.json()) for event in parse(b"".join(events))]
    assert len(chunks) == len(expected) == len(events)
    for got, want in zip(chunks, expected, strict=True):
        # Usage alone differs: reported once, on message_delta (see the usage tests below).
        assert got.model_dump(exclude={"created", "id", "usage"}) == want.model_dump(exclude={"created", "id", "usage"})
    assert len({chunk.id for chunk in chunks}) == 1  # one response id for the whole stream
    assert [wire.source_of(chunk).event.raw for chunk in chunks] == events  # type: ignore[union-attr]


async def test_a_copied_chunk_is_not_a_source_chunk() -> None:
    wire = AnthropicWire()
    chunks = [
        chunk async for batch in AnthropicIngress(wire).batches(items(upstream_events("text"))) for chunk in batch
    ]
    assert wire.source_of(chunks[3].model_copy()) is None


@pytest.mark.parametrize("scenario", ["text", "thinking", "parallel_tool_calls"])
async def test_without_text_chunks_text_deltas_stay_events_and_the_rest_is_unchanged(scenario: str) -> None:
    events = upstream_events(scenario)
    chunked = [c async for batch in AnthropicIngress(AnthropicWire()).batches(items(cut(events))) for c in batch]
    wire = AnthropicWire()
    ingress = AnthropicIngress(wire, text_chunks=False)
    got = [item async for batch in ingress.batches(items(cut(events))) for item in batch]
    assert len(got) == len(chunked) == len(events)
    for item, chunk, raw in zip(got, chunked, events, strict=True):
        text = chunk.choices[0].delta.content if chunk.choices else None
        if isinstance(item, ForwardedText):
            assert isinstance(item.source, SourceEvent) and item.source.event.raw == raw
            assert item.text == text and b'"text_delta"' in raw
        else:
            assert b'"text_delta"' not in raw
            assert item.model_dump(exclude={"created", "id"}) == chunk.model_dump(exclude={"created", "id"})
            assert wire.source_of(item).event.raw == raw  # type: ignore[union-attr]
    assert any(isinstance(item, ForwardedText) for item in got)


@pytest.mark.parametrize("scenario", ["text", "thinking", "parallel_tool_calls", "redacted_thinking"])
@pytest.mark.parametrize("text_chunks", [True, False])
async def test_usage_comes_once_on_message_delta_as_litellm_sums_it(scenario: str, text_chunks: bool) -> None:
    events = upstream_events(scenario)
    ingress = AnthropicIngress(AnthropicWire(), text_chunks=text_chunks)
    got = [item async for batch in ingress.batches(items(cut(events))) for item in batch]
    converter = ModelResponseIterator(streaming_response=None, sync_stream=False)
    expected = [converter.chunk_parser(event.json()) for event in parse(b"".join(events))]
    with_usage = [(i, item.usage) for i, item in enumerate(got) if not isinstance(item, ForwardedText) and item.usage]
    assert [i for i, _ in with_usage] == [len(events) - 2]  # message_delta only
    last_usage = [chunk.usage for chunk in expected if chunk.usage is not None][-1]
    assert with_usage[0][1] == last_usage


@pytest.mark.parametrize(
    ("delta_usage", "prompt_tokens", "completion_tokens"),
    [
        ({"output_tokens": 7}, 10 + 1024, 7),  # message_delta omits what message_start reported
        (None, 10 + 1024, 1),  # no usage on message_delta: message_start's stands
    ],
)
async def test_message_start_usage_is_merged_under_message_deltas(
    delta_usage: dict[str, int] | None, prompt_tokens: int, completion_tokens: int
) -> None:
    start_usage = {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 1024}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": []}
    delta: dict[str, object] = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}}
    if delta_usage is not None:
        delta["usage"] = delta_usage
    events = [
        sse_event("message_start", {"type": "message_start", "message": {**message, "usage": start_usage}}),
        sse_event("message_delta", delta),
        sse_event("message_stop", {"type": "message_stop"}),
    ]
    chunks = [c async for batch in AnthropicIngress(AnthropicWire()).batches(items(events)) for c in batch]
    assert [c.usage is not None for c in chunks] == [False, True, False]
    usage = chunks[1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cache_read_input_tokens) == (
        prompt_tokens,
        completion_tokens,
        1024,
    )


@pytest.mark.parametrize("failure", ["cut", "error_event"])
async def test_a_stream_failing_before_message_delta_has_message_start_usage_unreported(failure: str) -> None:
    events = upstream_events("text")[:-3] if failure == "cut" else upstream_events("error_event")
    ingress = AnthropicIngress(AnthropicWire())
    got: list[object] = []
    with pytest.raises(UpstreamStreamError):
        async for batch in ingress.batches(items(events)):
            got.extend(batch)
    assert [item for item in got if isinstance(item, ModelResponseStream) and item.usage] == []
    usage = ingress.unreported_usage()
    assert usage is not None and usage.usage is not None and not usage.choices[0].delta.content
    start_usage = json.loads(parse(events[0])[0].data)["message"]["usage"]
    assert usage.usage.completion_tokens == start_usage["output_tokens"]
    assert usage.usage.prompt_tokens >= start_usage["input_tokens"]
    assert ingress.unreported_usage() is None  # reported once


async def test_a_complete_stream_leaves_no_usage_unreported() -> None:
    ingress = AnthropicIngress(AnthropicWire())
    assert [c async for batch in ingress.batches(items(upstream_events("text"))) for c in batch]
    assert ingress.unreported_usage() is None
