"""The Anthropic ingress: one chunk per event, as LiteLLM's own converter makes them."""

from __future__ import annotations

import pytest
from litellm.llms.anthropic.chat.handler import ModelResponseIterator

from luthien_litellm_plugin.streaming.anthropic_ingress import AnthropicIngress, AnthropicWire
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
