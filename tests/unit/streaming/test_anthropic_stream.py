"""Anthropic Messages streams through the engine: byte-exact passthrough and the wire rules."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from luthien_litellm_plugin.errors import PolicyBlockedError, UpstreamStreamError
from luthien_litellm_plugin.events import InMemoryEventSink
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.orchestration.policy_orchestrator import PolicyOrchestrator
from luthien_litellm_plugin.policies.all_caps import AllCapsPolicy
from luthien_litellm_plugin.policies.block_tools import BlockToolsOptions, BlockToolsPolicy
from luthien_litellm_plugin.policies.chain import ChainPolicy
from luthien_litellm_plugin.policies.passthrough import PassthroughPolicy
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.policies.string_replacement import StringReplacementOptions, StringReplacementPolicy
from luthien_litellm_plugin.policies.tool_call_judge import ToolCallJudgeOptions, ToolCallJudgePolicy
from luthien_litellm_plugin.streaming.anthropic_egress import AnthropicEgress
from luthien_litellm_plugin.streaming.anthropic_sse import SSEParser
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock, ToolCallStreamBlock
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.streaming.forwarded import ForwardedText
from luthien_litellm_plugin.types import RequestMessage, ToolCall
from tests.anthropic_streams import (
    accumulate,
    cut,
    items,
    message_events,
    messages_request,
    parse,
    serve_anthropic,
    text_block,
    text_of,
    tool_use_block,
    tool_uses,
    upstream_events,
)
from tests.fakes.scenarios import BASH, LEAD_IN, TEXT, THINKING, THINKING_SIGNATURE, WEATHER
from tests.streams import (
    SPAN,
    TOOL_DECIDER_IDS,
    DropWeather,
    ReadsEveryText,
    recorded_stream,
    tool_deciders,
    tool_deciding_chains,
)
from tests.unit.policies.judge_fakes import ScriptedJudge

SCENARIOS = ("text", "tool_calls", "parallel_tool_calls", "tool_only", "thinking", "redacted_thinking", "max_tokens")


def orchestrator(policy: Policy, sink: InMemoryEventSink | None = None) -> PolicyOrchestrator:
    return create_default_orchestrator(policy, ReplayLLMClient(), db_pool=sink)


def block_tools(*tools: str) -> BlockToolsPolicy:
    return BlockToolsPolicy(BlockToolsOptions(tools=list(tools)))


def stop_reason(body: bytes) -> object:
    [delta] = [e.json() for e in parse(body) if e.event == "message_delta"]
    return delta["delta"]["stop_reason"]  # type: ignore[index,call-overload]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_passthrough_is_byte_exact(scenario: str) -> None:
    events = upstream_events(scenario)
    body = await serve_anthropic(orchestrator(PassthroughPolicy()), cut(events))
    assert body == b"".join(events)


async def test_the_events_of_one_upstream_read_leave_as_one_item() -> None:
    events = upstream_events("parallel_tool_calls")
    reads = cut(events)
    orch = orchestrator(PassthroughPolicy())
    final = await orch.process_request(messages_request(), "t", SPAN)
    served = [item async for item in orch.stream_anthropic_response(items(reads), "t", SPAN, final)]
    assert b"".join(served) == b"".join(events)
    parser = SSEParser()
    reads_completing_events = sum(1 for read in reads if parser.feed(read))
    # + the stream's first output, served before the rest of its read; + the closing message_delta/stop
    assert len(served) <= reads_completing_events + 2 < len(events)


class CountsChunks(Policy):
    """Changes nothing; counts the chunks it has been handed."""

    def __init__(self) -> None:
        super().__init__()
        self.received = 0

    async def on_chunk_received(self, ctx: StreamingResponseContext) -> None:
        self.received += 1


@pytest.mark.parametrize("policy", [PassthroughPolicy, CountsChunks], ids=["forwarding", "chunks"])
async def test_the_first_output_leaves_before_the_rest_of_its_read_is_processed(policy: type[Policy]) -> None:
    events = message_events([text_block("Hel", "lo", " there")], stop_reason="end_turn")
    whole_stream_in_one_read = [b"".join(events)]
    chosen = policy()
    orch = orchestrator(chosen)
    final = await orch.process_request(messages_request(), "t", SPAN)
    served = orch.stream_anthropic_response(items(whole_stream_in_one_read), "t", SPAN, final)
    first = await anext(served)
    kinds = [event.event for event in SSEParser().feed(first)]
    assert kinds == ["message_start", "content_block_start", "content_block_delta"]
    if isinstance(chosen, CountsChunks):
        assert chosen.received == 3  # the rest of the read is not processed yet
    rest = [item async for item in served]
    assert rest[0] == b"".join(events[3:6])  # the rest of the read: one item, as before
    assert first + b"".join(rest) == whole_stream_in_one_read[0]


async def test_a_read_whose_first_output_comes_with_its_last_event_leaves_as_one_item() -> None:
    events = message_events([text_block("Hel", "lo", " there")], stop_reason="end_turn")
    reads = [b"".join(events[:3]), b"".join(events[3:])]  # the first read ends with the first delta
    orch = orchestrator(PassthroughPolicy())
    final = await orch.process_request(messages_request(), "t", SPAN)
    served = [item async for item in orch.stream_anthropic_response(items(reads), "t", SPAN, final)]
    assert served[:2] == [reads[0], b"".join(events[3:6])] and b"".join(served) == b"".join(reads)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_simple_policy_that_changes_nothing_is_byte_exact(scenario: str) -> None:
    events = upstream_events(scenario)
    body = await serve_anthropic(orchestrator(block_tools("nothing_matches")), cut(events))
    assert body == b"".join(events)


async def test_all_caps_on_a_stream_without_text_is_byte_exact() -> None:
    events = upstream_events("tool_only")
    body = await serve_anthropic(orchestrator(AllCapsPolicy()), cut(events))
    assert body == b"".join(events)


async def test_all_caps_upper_cases_text_and_leaves_thinking_untouched() -> None:
    events = upstream_events("thinking")
    body = await serve_anthropic(orchestrator(AllCapsPolicy()), cut(events))
    message = accumulate(body)
    assert text_of(message) == TEXT.upper()
    [thinking] = [block for block in message.content if block.type == "thinking"]
    assert (thinking.thinking, thinking.signature) == (THINKING, THINKING_SIGNATURE)
    thinking_events = [e for e in events if b'"index":0' in e]
    assert all(raw in body for raw in thinking_events), "thinking events must pass byte for byte"


async def test_all_caps_keeps_redacted_thinking_and_usage() -> None:
    events = upstream_events("redacted_thinking")
    body = await serve_anthropic(orchestrator(AllCapsPolicy()), cut(events))
    message = accumulate(body)
    assert [block.type for block in message.content] == ["redacted_thinking", "text"]
    assert text_of(message) == TEXT.upper()
    assert message.usage.cache_read_input_tokens == 1024
    assert message.usage.cache_creation_input_tokens == 128
    assert events[0] in body and events[-2] in body  # message_start and message_delta (usage) untouched


async def test_block_tools_replaces_the_blocked_call_with_text_and_keeps_the_rest() -> None:
    body = await serve_anthropic(orchestrator(block_tools("bash")), cut(upstream_events("parallel_tool_calls")))
    message = accumulate(body)
    assert [block.type for block in message.content] == ["text", "tool_use", "text", "tool_use"]
    names = [name for name, _ in tool_uses(message)]
    assert names == ["get_weather", "get_time"]
    assert "bash" in message.content[2].text  # type: ignore[union-attr]
    assert stop_reason(body) == "tool_use"
    assert tool_uses(message)[0][1] == json.loads(WEATHER.arguments)


async def test_stop_reason_becomes_end_turn_when_every_tool_use_is_removed() -> None:
    body = await serve_anthropic(orchestrator(block_tools("get_weather", "bash")), cut(upstream_events("tool_only")))
    message = accumulate(body)
    assert tool_uses(message) == []
    assert stop_reason(body) == "end_turn"
    assert message.stop_reason == "end_turn"


async def test_max_tokens_stop_reason_is_preserved_through_a_rewrite() -> None:
    body = await serve_anthropic(orchestrator(AllCapsPolicy()), cut(upstream_events("max_tokens")))
    assert stop_reason(body) == "max_tokens"


async def test_string_replacement_streams_replaced_text() -> None:
    options = StringReplacementOptions.model_validate({"replacements": [{"from": "fox", "to": "cat"}]})
    body = await serve_anthropic(orchestrator(StringReplacementPolicy(options)), cut(upstream_events("text")))
    assert text_of(accumulate(body)) == TEXT.replace("fox", "cat")


class ToolToText(SimplePolicy):
    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall | str | None:
        return f"[{tool_call.name} withheld]"


class RenameTool(SimplePolicy):
    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall | str | None:
        return tool_call.model_copy(update={"name": "safe_" + tool_call.name, "arguments": '{"x": 1}'})


async def test_text_replacing_a_tool_call_goes_into_a_text_block() -> None:
    body = await serve_anthropic(orchestrator(ToolToText()), cut(upstream_events("tool_calls")))
    message = accumulate(body)
    assert [block.type for block in message.content] == ["text", "text"]
    assert text_of(message) == LEAD_IN + "[get_weather withheld]"
    assert message.stop_reason == "end_turn"


async def test_a_modified_tool_call_is_served_as_a_new_tool_use_block() -> None:
    body = await serve_anthropic(orchestrator(RenameTool()), cut(upstream_events("tool_only")))
    message = accumulate(body)
    assert tool_uses(message) == [("safe_get_weather", {"x": 1}), ("safe_bash", {"x": 1})]
    assert message.stop_reason == "tool_use"


class BlockOnBash(SimplePolicy):
    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall | str | None:
        if tool_call.name == BASH.name:
            self.block("no shell")
        return tool_call


async def test_a_block_before_anything_was_served_sends_no_byte() -> None:
    served: list[bytes] = []
    sink = InMemoryEventSink()
    policy = BlockOnBash()
    orch = orchestrator(policy, sink)

    final = await orch.process_request(messages_request(), "t", SPAN)
    with pytest.raises(PolicyBlockedError):
        async for item in orch.stream_anthropic_response(items(cut(upstream_events("tool_only"))), "t", SPAN, final):
            served.append(item)
    # the tool calls are decided together once complete: the refusal comes before any byte
    assert served == []
    completed = [e for e in sink.events if e.event_type == "transaction.completed"]
    assert [e.payload["status"] for e in completed] == ["blocked"]


async def test_upstream_error_event_after_the_start_ends_with_its_error_frame_and_isrecorded_stream() -> None:
    sink = InMemoryEventSink()
    body = await serve_anthropic(orchestrator(PassthroughPolicy(), sink), cut(upstream_events("error_event")))
    last = parse(body)[-1]
    assert last.event == "error" and json.loads(last.data)["error"]["type"] == "overloaded_error"
    completed = [e for e in sink.events if e.event_type == "transaction.completed"]
    assert [e.payload["status"] for e in completed] == ["error"]


async def test_upstream_error_event_before_anything_was_served_raises_with_its_type() -> None:
    sink = InMemoryEventSink()
    with pytest.raises(UpstreamStreamError) as raised:  # all_caps holds the text: nothing went out
        await serve_anthropic(orchestrator(AllCapsPolicy(), sink), cut(upstream_events("error_event")))
    assert raised.value.error_type == "overloaded_error"


async def test_events_before_an_error_event_in_the_same_read_are_still_served() -> None:
    events = upstream_events("error_event")
    orch = orchestrator(PassthroughPolicy())
    final = await orch.process_request(messages_request(), "t", SPAN)
    served = [item async for item in orch.stream_anthropic_response(items([b"".join(events)]), "t", SPAN, final)]
    assert b"".join(served).startswith(b"".join(events[:-1]))  # everything up to the error event itself
    assert parse(b"".join(served))[-1].event == "error"


async def test_recorded_original_and_final_are_what_was_received_and_served() -> None:
    sink = InMemoryEventSink()
    await serve_anthropic(orchestrator(AllCapsPolicy(), sink), cut(upstream_events("tool_calls")))
    [recorded] = [e for e in sink.events if e.event_type == "transaction.streaming_response_recorded"]
    original, final = (recorded.payload[key]["choices"][0] for key in ("original_response", "final_response"))  # type: ignore[index]
    assert original["message"]["content"] == LEAD_IN and final["message"]["content"] == LEAD_IN.upper()
    assert original["finish_reason"] == final["finish_reason"] == "tool_calls"
    assert [c["function"]["name"] for c in final["message"]["tool_calls"]] == ["get_weather"]
    assert not [e for e in sink.events if e.event_type == "stream.protocol_violation"]


async def test_a_stream_cut_before_message_stop_is_an_error_not_a_complete_response() -> None:
    sink = InMemoryEventSink()
    events = upstream_events("text")
    body = await serve_anthropic(orchestrator(PassthroughPolicy(), sink), cut(events[:-3]))
    last = parse(body)[-1]
    assert last.event == "error" and "before message_stop" in json.loads(last.data)["error"]["message"]
    completed = [e for e in sink.events if e.event_type == "transaction.completed"]
    assert [e.payload["status"] for e in completed] == ["error"]


@pytest.mark.parametrize("policy", [PassthroughPolicy(), AllCapsPolicy()], ids=["served", "nothing_served"])
async def test_a_cut_stream_records_the_usage_message_start_reported(policy: Policy) -> None:
    sink = InMemoryEventSink()
    events = upstream_events("text")
    served = True
    try:
        await serve_anthropic(orchestrator(policy, sink), cut(events[:-3]))
    except UpstreamStreamError:
        served = False  # all_caps held the text: nothing went out, an HTTP error instead
    assert served == isinstance(policy, PassthroughPolicy)
    start_usage = json.loads(parse(events[0])[0].data)["message"]["usage"]
    recorded = recorded_stream(sink)
    original, final = recorded["original_response"]["usage"], recorded["final_response"]["usage"]  # type: ignore[index]
    assert original["completion_tokens"] == start_usage["output_tokens"]
    assert final == (original if served else None)  # what the client received: message_start, or nothing
    [completed] = [e for e in sink.events if e.event_type == "transaction.completed"]
    assert completed.payload["usage"] == original and completed.payload["status"] == "error"


async def test_blocks_after_a_dropped_one_are_renumbered_and_otherwise_unchanged() -> None:
    events = upstream_events("parallel_tool_calls")
    body = await serve_anthropic(orchestrator(DropWeather()), cut(events))
    message = accumulate(body)
    assert [name for name, _ in tool_uses(message)] == ["bash", "get_time"]
    upstream_bash = [json.loads(e.data) for e in parse(b"".join(events)) if json.loads(e.data).get("index") == 2]
    served_bash = [json.loads(e.data) for e in parse(body) if json.loads(e.data).get("index") == 1]
    assert served_bash == [{**event, "index": 1} for event in upstream_bash]


def _event(kind: str, data: dict[str, object]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def server_tool_stream() -> list[bytes]:
    """A web-search answer: server_tool_use, web_search_tool_result, then text with a citation."""
    start = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "content": []}
    usage = {"input_tokens": 10, "output_tokens": 1, "server_tool_use": {"web_search_requests": 1}}
    search = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
    result = {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_1",
        "content": [{"type": "web_search_result", "url": "https://example.com", "title": "Example"}],
    }
    citation = {"type": "web_search_result_location", "url": "https://example.com", "cited_text": "x"}
    return [
        _event("message_start", {"type": "message_start", "message": {**start, "usage": usage}}),
        _event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": search}),
        _event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"q'}},
        ),
        _event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": '":"x"}'},
            },
        ),
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event("content_block_start", {"type": "content_block_start", "index": 1, "content_block": result}),
        _event("content_block_stop", {"type": "content_block_stop", "index": 1}),
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
        ),
        _event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 2, "delta": {"type": "citations_delta", "citation": citation}},
        ),
        _event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Found it."}},
        ),
        _event("content_block_stop", {"type": "content_block_stop", "index": 2}),
        _event(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": usage},
        ),
        _event("message_stop", {"type": "message_stop"}),
    ]


@pytest.mark.parametrize("policy", [PassthroughPolicy, lambda: block_tools("bash")], ids=["passthrough", "simple"])
async def test_block_types_the_engine_does_not_model_pass_byte_exact(policy: type[Policy]) -> None:
    events = server_tool_stream()
    body = await serve_anthropic(orchestrator(policy()), cut(events))
    assert body == b"".join(events)
    message = accumulate(body)
    assert [block.type for block in message.content] == ["server_tool_use", "web_search_tool_result", "text"]


async def test_all_caps_keeps_server_tool_blocks_and_citations_around_the_changed_text() -> None:
    events = server_tool_stream()
    body = await serve_anthropic(orchestrator(AllCapsPolicy()), cut(events))
    message = accumulate(body)
    assert [block.type for block in message.content] == ["server_tool_use", "web_search_tool_result", "text"]
    assert text_of(message) == "FOUND IT."
    assert all(raw in body for raw in events[:7]), "server tool blocks pass byte for byte"


@pytest.mark.parametrize("policy", [PassthroughPolicy(), AllCapsPolicy()], ids=["passthrough", "all_caps"])
async def test_the_recorded_final_response_has_the_usage_the_client_received(policy: Policy) -> None:
    sink = InMemoryEventSink()
    body = await serve_anthropic(orchestrator(policy, sink), cut(upstream_events("text")))
    [recorded] = [e for e in sink.events if e.event_type == "transaction.streaming_response_recorded"]
    original, final = recorded.payload["original_response"], recorded.payload["final_response"]
    assert isinstance(original, dict) and isinstance(final, dict)
    assert final["usage"] is not None and final["usage"] == original["usage"]
    served_usage = json.loads(next(e for e in parse(body) if e.event == "message_delta").data)["usage"]
    assert final["usage"]["completion_tokens"] == served_usage["output_tokens"]  # type: ignore[index]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_text_no_policy_reads_is_recorded_as_if_it_had_been_made_into_chunks(scenario: str) -> None:
    """A passthrough's text deltas skip chunk building; the record must not tell the difference."""
    events = upstream_events(scenario)
    forwarded, chunked = InMemoryEventSink(), InMemoryEventSink()
    forwarded_body = await serve_anthropic(orchestrator(PassthroughPolicy(), forwarded), cut(events))
    chunked_body = await serve_anthropic(orchestrator(ReadsEveryText(), chunked), cut(events))
    assert forwarded_body == chunked_body == b"".join(events)
    assert recorded_stream(forwarded) == recorded_stream(chunked)
    for sink in (forwarded, chunked):
        assert not [e for e in sink.events if e.event_type == "stream.protocol_violation"]


@pytest.mark.parametrize(
    ("policy", "forwarded"),
    [
        (PassthroughPolicy(), True),
        (ReadsEveryText(), False),
        *[(policy, True) for policy, _ in tool_deciders()],
        *zip(tool_deciding_chains(), (True, False), strict=True),
    ],
    ids=["passthrough", "reads_text", *TOOL_DECIDER_IDS, "chain", "chain_reading_text"],
)
async def test_only_text_no_policy_reads_skips_chunk_building(
    policy: Policy, forwarded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    forward_text = AnthropicEgress.forward_text

    def spy(self: AnthropicEgress, delta: ForwardedText) -> None:
        sent.append(delta.text)
        forward_text(self, delta)

    monkeypatch.setattr(AnthropicEgress, "forward_text", spy)
    await serve_anthropic(orchestrator(policy), cut(upstream_events("text")))
    assert ("".join(sent) == TEXT) is forwarded and bool(sent) is forwarded


TOOL_DECIDERS = tool_deciders()


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize(("forwarding", "chunking"), TOOL_DECIDERS, ids=TOOL_DECIDER_IDS)
async def test_a_policy_deciding_only_tool_calls_serves_and_records_as_if_its_text_were_chunks(
    scenario: str, forwarding: Policy, chunking: Policy
) -> None:
    events = upstream_events(scenario)
    forwarded, chunked = InMemoryEventSink(), InMemoryEventSink()
    forwarded_body = await serve_anthropic(orchestrator(forwarding, forwarded), cut(events))
    chunked_body = await serve_anthropic(orchestrator(chunking, chunked), cut(events))
    assert forwarded_body == chunked_body
    assert recorded_stream(forwarded) == recorded_stream(chunked)
    for sink in (forwarded, chunked):
        assert not [e for e in sink.events if e.event_type == "stream.protocol_violation"]


@pytest.mark.parametrize("in_chain", [False, True], ids=["judge", "chain"])
async def test_text_after_a_held_tool_call_waits_for_its_decision(in_chain: bool) -> None:
    gate = asyncio.Event()
    judge = ScriptedJudge(gate=gate)
    policy: Policy = ToolCallJudgePolicy(ToolCallJudgeOptions(judge_model="judge")).named("judged")
    if in_chain:  # no member reads text: it is forwarded through the chain too
        policy = ChainPolicy([block_tools(BASH.name), policy]).named("guarded")
    orch = create_default_orchestrator(policy, judge)
    events = message_events(
        [text_block("before "), tool_use_block("toolu_1", "get_weather", '{"city": "Paris"}'), text_block("after")]
    )
    final = await orch.process_request(messages_request(), "t", SPAN)
    stream = orch.stream_anthropic_response(items(events), "t", SPAN, final)
    served = [await anext(stream)]
    assert b"before" in served[0]
    rest = asyncio.ensure_future(_drain(stream))
    while judge.waiting < 1:  # the call completed (text followed it) and is at the judge
        await judge.arrived.wait()
        judge.arrived.clear()
    assert not rest.done()  # "after" waits behind the held call
    gate.set()
    body = b"".join([*served, *await rest])
    message = accumulate(body)
    assert [block.type for block in message.content] == ["text", "tool_use", "text"]
    assert text_of(message) == "before after"
    assert events[-5] in body  # the "after" delta went out as the upstream's bytes


async def _drain(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [item async for item in stream]


class SeesTheStream(Policy):
    """Decides tool calls (forwards them) and notes what the stream's state shows at each."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[list[object]] = []

    async def on_tool_call_complete(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
        chunks = ctx.ingress_state.raw_chunks
        assert ctx.last_ingress_chunk is chunks[-1]
        self.seen.append([chunk.model_dump(exclude={"id", "created"}) for chunk in chunks])


class SeesTheStreamReadingText(SeesTheStream):
    async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
        """Forwards the block (the default), but reads text: its text comes as chunks."""


async def test_the_stream_state_a_policy_reads_shows_forwarded_text_as_chunks() -> None:
    events = upstream_events("parallel_tool_calls")
    forwarding, chunking = SeesTheStream(), SeesTheStreamReadingText()
    assert await serve_anthropic(orchestrator(forwarding), cut(events)) == b"".join(events)
    assert await serve_anthropic(orchestrator(chunking), cut(events)) == b"".join(events)
    assert forwarding.seen and forwarding.seen == chunking.seen
