"""The Anthropic ingress: one chunk per event, as LiteLLM's own converter makes them."""

from __future__ import annotations

import pytest
from litellm.llms.anthropic.chat.handler import ModelResponseIterator

from luthien_litellm_plugin.streaming.anthropic_ingress import AnthropicIngress, AnthropicWire, SourceEvent
from luthien_litellm_plugin.streaming.forwarded import ForwardedText
from tests.anthropic_streams import cut, items, parse, upstream_events


@pytest.mark.parametrize("scenario", ["text", "thinking", "parallel_tool_calls", "redacted_thinking"])
async def test_chunks_equal_litellms_own_conversion_event_by_event(scenario: str) -> None:
    events = upstream_events(scenario)
    wire = AnthropicWire()
    chunks = [chunk async for batch in AnthropicIngress(wire).batches(items(cut(events))) for chunk in batch]
    converter = ModelResponseIterator(streaming_response=None, sync_stream=False)
    expected = [converter.chunk_parser(event.json()) for event in parse(b"".join(events))]
    assert len(chunks) == len(expected) == len(events)
    for got, want in zip(chunks, expected, strict=True):
        assert got.model_dump(exclude={"created", "id"}) == want.model_dump(exclude={"created", "id"})
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
