"""The Responses ingress: one chunk per event, as LiteLLM's own converter makes them."""

from __future__ import annotations

import pytest
from litellm.completion_extras.litellm_responses_transformation.transformation import (
    OpenAiResponsesToChatCompletionStreamIterator,
)
from pydantic import BaseModel

from luthien_litellm_plugin.chunks import delta_of, field_of
from luthien_litellm_plugin.streaming.responses_events import Event, with_fields
from luthien_litellm_plugin.streaming.responses_ingress import ResponsesIngress, ResponsesWire
from tests.fakes.scenarios import THINKING
from tests.responses_streams import upstream_events
from tests.streams import iterate


def with_service_tier(events: list[Event], tier: str) -> list[Event]:
    """The events, with the response they carry (created, in_progress, completed) served at `tier`."""
    served = []
    for event in events:
        response = event.get("response")
        if isinstance(response, BaseModel):
            event = with_fields(event, response=response.model_copy(update={"service_tier": tier}))
        served.append(event)
    return served


@pytest.mark.parametrize("scenario", ["text", "parallel_tool_calls", "tool_only", "max_tokens", "priority_tier"])
async def test_chunks_equal_litellms_own_conversion_event_by_event(scenario: str) -> None:
    events = (
        with_service_tier(upstream_events("text"), "priority")
        if scenario == "priority_tier"
        else upstream_events(scenario)
    )
    wire = ResponsesWire()
    chunks = [chunk async for chunk in ResponsesIngress(wire).chunks(iterate(events))]
    converter = OpenAiResponsesToChatCompletionStreamIterator(streaming_response=None, sync_stream=False)  # type: ignore[arg-type]
    expected = [converter.chunk_parser(event.model_dump()) for event in events]
    assert len(chunks) == len(expected) == len(events)
    for got, want in zip(chunks, expected, strict=True):
        assert got.model_dump(exclude={"created"}) == want.model_dump(exclude={"created"})
    assert [wire.source_of(chunk).event for chunk in chunks] == events  # type: ignore[union-attr]
    assert wire.terminal is events[-1] and wire.terminal_chunk is chunks[-1]
    assert [e.get("type") for e in wire.opening] == ["response.created", "response.in_progress"]
    if scenario == "priority_tier":
        assert {getattr(chunk, "service_tier", None) for chunk in chunks[1:]} == {"priority"}


async def test_reasoning_summary_text_becomes_reasoning_content_of_the_one_choice() -> None:
    chunks = [chunk async for chunk in ResponsesIngress(ResponsesWire()).chunks(iterate(upstream_events("thinking")))]
    reasoning = [field_of(delta_of(c.choices[0]), "reasoning_content") or "" for c in chunks if c.choices]
    assert "".join(reasoning) == THINKING
    assert all(choice.index == 0 for chunk in chunks for choice in chunk.choices)


async def test_a_copied_chunk_is_not_a_source_chunk() -> None:
    wire = ResponsesWire()
    chunks = [chunk async for chunk in ResponsesIngress(wire).chunks(iterate(upstream_events("text")))]
    assert wire.source_of(chunks[5]) is not None and wire.source_of(chunks[5].model_copy()) is None
