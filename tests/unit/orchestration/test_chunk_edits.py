"""A streaming hook that edits the upstream's chunk in place: what the client gets is what is recorded,
on every API (chat chunks are serialized by LiteLLM; Anthropic and Responses events are ours)."""

from __future__ import annotations

import pytest

from luthien_litellm_plugin import events
from luthien_litellm_plugin.chunks import content_of, delta_of, tool_call_deltas_of
from luthien_litellm_plugin.events import InMemoryEventSink
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.orchestration.policy_orchestrator import PolicyOrchestrator
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from tests.anthropic_streams import accumulate, cut, serve_anthropic, text_of, tool_uses, upstream_events
from tests.fakes.scenarios import LEAD_IN
from tests.responses_streams import accumulate as accumulate_responses
from tests.responses_streams import function_calls, serve_responses
from tests.responses_streams import text_of as responses_text
from tests.responses_streams import upstream_events as responses_events
from tests.streams import SPAN, chunk, iterate, request

ANTHROPIC_SCENARIOS = ("text", "tool_calls", "parallel_tool_calls", "tool_only", "thinking", "escaped_arguments")
RESPONSES_SCENARIOS = ("text", "tool_calls", "parallel_tool_calls", "tool_only", "thinking", "escaped_arguments")


class ShoutsInPlace(Policy):
    """Upper-cases each upstream chunk's text and tool-call arguments on the chunk itself."""

    async def on_chunk_received(self, ctx: StreamingResponseContext) -> None:
        chunk = ctx.last_ingress_chunk
        if chunk is None or not chunk.choices:
            return
        delta = delta_of(chunk.choices[0])
        text = content_of(delta)
        if text:
            delta.content = text.upper()  # type: ignore[union-attr]
        for call in delta.tool_calls or []:  # type: ignore[union-attr]
            if call.function.arguments:
                call.function.arguments = call.function.arguments.upper()


class ReadsEveryChunk(Policy):
    """Reads every chunk (so text and tool arguments come as chunks) and edits none."""

    async def on_chunk_received(self, ctx: StreamingResponseContext) -> None:
        assert ctx.last_ingress_chunk is not None


def engine(policy: Policy | None = None) -> tuple[PolicyOrchestrator, InMemoryEventSink]:
    sink = InMemoryEventSink()
    return create_default_orchestrator(policy or ShoutsInPlace(), ReplayLLMClient(), sink), sink


@pytest.mark.parametrize("scenario", ANTHROPIC_SCENARIOS)
async def test_anthropic_chunks_read_and_left_alone_go_out_as_the_upstream_bytes(scenario: str) -> None:
    events = upstream_events(scenario)
    assert await serve_anthropic(engine(ReadsEveryChunk())[0], cut(events)) == b"".join(events)


@pytest.mark.parametrize("scenario", RESPONSES_SCENARIOS)
async def test_responses_chunks_read_and_left_alone_go_out_as_the_upstream_events(scenario: str) -> None:
    events = responses_events(scenario)
    orchestrator = engine(ReadsEveryChunk())[0]
    final_request = await orchestrator.process_request(request(), "t", SPAN)
    served = [e async for e in orchestrator.stream_responses_response(iterate(events), "t", SPAN, final_request)]
    assert len(served) == len(events) and all(s is e for s, e in zip(served, events, strict=True))


def recorded_final(sink: InMemoryEventSink, which: str = "final_response") -> dict:  # type: ignore[type-arg]
    """The recorded message the client got (or, with `which="original_response"`, the upstream sent)."""
    [event] = sink.of_type(events.TRANSACTION_STREAMING_RESPONSE_RECORDED)
    response = event.payload[which]
    assert isinstance(response, dict)
    return response["choices"][0]["message"]  # type: ignore[no-any-return,index,call-overload]


async def test_anthropic_text_and_tool_arguments_edited_in_place_are_served_and_recorded() -> None:
    orchestrator, sink = engine()
    body = await serve_anthropic(orchestrator, upstream_events("tool_calls"))
    message = accumulate(body)
    assert text_of(message) == LEAD_IN.upper()
    assert [name for name, _ in tool_uses(message)] == ["get_weather"]
    served_input = tool_uses(message)[0][1]
    assert all(key == key.upper() for key in served_input)
    final = recorded_final(sink)
    assert final["content"] == LEAD_IN.upper()
    assert recorded_final(sink, "original_response")["content"] == LEAD_IN
    assert final["tool_calls"][0]["function"]["arguments"].upper() == final["tool_calls"][0]["function"]["arguments"]


async def test_responses_text_and_tool_arguments_edited_in_place_are_served_and_recorded() -> None:
    orchestrator, sink = engine()
    served = await serve_responses(orchestrator, responses_events("tool_calls"))
    response = accumulate_responses(served)
    assert responses_text(response) == LEAD_IN.upper()
    [(name, arguments)] = function_calls(response)
    assert name == "get_weather" and all(key == key.upper() for key in arguments)
    final = recorded_final(sink)
    assert final["content"] == LEAD_IN.upper()
    assert recorded_final(sink, "original_response")["content"] == LEAD_IN


async def test_chat_text_and_tool_arguments_edited_in_place_are_served_and_recorded() -> None:
    orchestrator, sink = engine()
    final_request = await orchestrator.process_request(request(), "t", SPAN)
    upstream = [
        chunk("Let me ", role="assistant"),
        chunk("check."),
        chunk(tool_call=(0, "call_1", "get_weather", '{"city"')),
        chunk(tool_call=(0, None, None, ': "paris"}')),
        chunk(finish_reason="tool_calls"),
    ]
    served = [c async for c in orchestrator.stream_response(iterate(upstream), "t", SPAN, final_request)]
    text = "".join(content_of(delta_of(c.choices[0])) or "" for c in served if c.choices)
    arguments = "".join(d.fragment for c in served if c.choices for d in tool_call_deltas_of(delta_of(c.choices[0])))
    assert (text, arguments) == ("LET ME CHECK.", '{"CITY": "PARIS"}')
    final = recorded_final(sink)
    assert final["content"] == text and final["tool_calls"][0]["function"]["arguments"] == arguments
    assert recorded_final(sink, "original_response")["content"] == "Let me check."
