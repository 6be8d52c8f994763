"""OpenAI Responses streams through the engine: unchanged events pass as the very objects, and the wire rules."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from luthien_litellm_plugin.errors import PolicyBlockedError, UpstreamStreamError
from luthien_litellm_plugin.events import InMemoryEventSink
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.orchestration.policy_orchestrator import PolicyOrchestrator
from luthien_litellm_plugin.policies.all_caps import AllCapsPolicy
from luthien_litellm_plugin.policies.block_tools import BlockToolsOptions, BlockToolsPolicy
from luthien_litellm_plugin.policies.passthrough import PassthroughPolicy
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.policies.string_replacement import StringReplacementOptions, StringReplacementPolicy
from luthien_litellm_plugin.streaming.forwarded import ForwardedText
from luthien_litellm_plugin.streaming.responses_egress import ResponsesEgress
from luthien_litellm_plugin.streaming.responses_events import Event, kind_of
from luthien_litellm_plugin.streaming.responses_ingress import ResponsesWire
from luthien_litellm_plugin.streaming.responses_validator import validate_responses_stream
from luthien_litellm_plugin.types import JSONObject, RequestMessage, ToolCall
from tests.fakes.scenarios import BASH, LEAD_IN, TEXT, THINKING, TIME, WEATHER
from tests.responses_streams import (
    accumulate,
    client_view,
    function_calls,
    interleaved,
    serve_responses,
    text_of,
    upstream_events,
    without_built_ids,
)
from tests.streams import SPAN, TOOL_DECIDER_IDS, ReadsEveryText, iterate, recorded_stream, request, tool_deciders

SCENARIOS = ("text", "tool_calls", "parallel_tool_calls", "tool_only", "thinking", "max_tokens")
ORDERS: dict[str, Callable[[list[Event]], list[Event]]] = {"openai": list, "litellm_translated": interleaved}
"""How the items of a stream arrive: one after the other (OpenAI), or LiteLLM's translation of another
provider (the message item closed last)."""


def orchestrator(policy: Policy, sink: InMemoryEventSink | None = None) -> PolicyOrchestrator:
    return create_default_orchestrator(policy, ReplayLLMClient(), db_pool=sink)


def block_tools(*tools: str) -> BlockToolsPolicy:
    return BlockToolsPolicy(BlockToolsOptions(tools=list(tools)))


def events_of(scenario: str, order: str = "openai") -> list[Event]:
    events = upstream_events(scenario)
    return ORDERS[order](events) if scenario in ("tool_calls", "parallel_tool_calls", "thinking") else events


async def served_objects(policy: Policy, events: list[Event]) -> list[object]:
    orch = orchestrator(policy)
    final = await orch.process_request(request(), "t", SPAN)
    return [event async for event in orch.stream_responses_response(iterate(events), "t", SPAN, final)]


def terminal(served: list[JSONObject]) -> JSONObject:
    response = served[-1]["response"]
    assert isinstance(response, dict)
    return response


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_passthrough_serves_the_upstream_event_objects_themselves(scenario: str, order: str) -> None:
    events = events_of(scenario, order)
    served = await served_objects(PassthroughPolicy(), events)
    assert len(served) == len(events) and all(s is e for s, e in zip(served, events, strict=True))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_a_simple_policy_that_changes_nothing_serves_the_upstream_events(scenario: str, order: str) -> None:
    events = events_of(scenario, order)
    served = await served_objects(block_tools("nothing_matches"), events)
    assert all(s is e for s, e in zip(served, events, strict=True)) and len(served) == len(events)


async def test_all_caps_on_a_stream_without_text_serves_the_upstream_events() -> None:
    events = upstream_events("tool_only")
    served = await served_objects(AllCapsPolicy(), events)
    assert all(s is e for s, e in zip(served, events, strict=True)) and len(served) == len(events)


@pytest.mark.parametrize("order", ORDERS)
async def test_all_caps_upper_cases_the_text_and_states_it_in_every_done_event(order: str) -> None:
    served = await serve_responses(orchestrator(AllCapsPolicy()), events_of("tool_calls", order))
    response = accumulate(served)
    assert text_of(response) == LEAD_IN.upper()
    assert function_calls(response) == [(WEATHER.name, json.loads(WEATHER.arguments))]
    [text_done] = [e for e in served if e["type"] == "response.output_text.done"]
    assert text_done["text"] == LEAD_IN.upper()
    assert terminal(served)["output"][0]["content"][0]["text"] == LEAD_IN.upper()  # type: ignore[index]


async def test_reasoning_items_pass_untouched_around_changed_text() -> None:
    events = upstream_events("thinking")
    served = await served_objects(AllCapsPolicy(), events)
    reasoning = [e for e in events if e.get("output_index") == 0]
    assert all(any(s is e for s in served) for e in reasoning), "reasoning events pass as the very objects"
    response = accumulate([client_view(e) for e in served])
    assert text_of(response) == TEXT.upper()
    assert [[s.text for s in item.summary] for item in response.output if item.type == "reasoning"] == [[THINKING]]


@pytest.mark.parametrize("order", ORDERS)
async def test_block_tools_replaces_the_blocked_call_and_renumbers_what_follows(order: str) -> None:
    served = await serve_responses(orchestrator(block_tools("bash")), events_of("parallel_tool_calls", order))
    response = accumulate(served)
    assert [name for name, _ in function_calls(response)] == [WEATHER.name, TIME.name]
    assert "bash" in text_of(response) and text_of(response).startswith(LEAD_IN)
    assert [item["type"] for item in terminal(served)["output"]] == (  # type: ignore[index,union-attr]
        ["message", "function_call", "message", "function_call"]
        if order == "openai"
        else ["message", "function_call", "function_call"]  # the notice joins the message still open
    )
    time_events = [e for e in served if e.get("item_id") == response.output[-1].id]
    assert {e["output_index"] for e in time_events} == {len(response.output) - 1}


async def test_a_modified_tool_call_is_served_as_a_new_function_call_item() -> None:
    class RenameTool(SimplePolicy):
        async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall | str | None:
            return tool_call.model_copy(update={"name": "safe_" + tool_call.name, "arguments": '{"x": 1}'})

    served = await serve_responses(orchestrator(RenameTool()), upstream_events("tool_only"))
    response = accumulate(served)
    assert function_calls(response) == [("safe_get_weather", {"x": 1}), ("safe_bash", {"x": 1})]
    assert all(item.call_id.startswith("call_") for item in response.output if item.type == "function_call")


class DropCall(SimplePolicy):
    def __init__(self, name: str) -> None:
        self.dropped = name

    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall | str | None:
        return None if tool_call.name == self.dropped else tool_call


async def test_items_after_a_dropped_one_are_renumbered_and_otherwise_unchanged() -> None:
    events = upstream_events("parallel_tool_calls")
    served = await serve_responses(orchestrator(DropCall(WEATHER.name)), events)
    assert [name for name, _ in function_calls(accumulate(served))] == [BASH.name, TIME.name]
    upstream_bash = [client_view(e) for e in events if e.get("output_index") == 2]
    served_bash = [e for e in served if e.get("output_index") == 1 and e["type"] != "response.output_item.added"]
    assert [{k: v for k, v in e.items() if k != "sequence_number"} for e in served_bash] == [
        {k: v for k, v in e.items() if k != "sequence_number"} | {"output_index": 1}
        for e in upstream_bash
        if e["type"] != "response.output_item.added"
    ]


async def test_dropping_the_last_item_removes_it_from_response_completed() -> None:
    served = await serve_responses(orchestrator(DropCall(TIME.name)), upstream_events("parallel_tool_calls"))
    assert [item.get("name") for item in terminal(served)["output"]] == [None, WEATHER.name, BASH.name]  # type: ignore[union-attr]


async def test_removing_every_call_keeps_the_response_completed_with_the_notices() -> None:
    served = await serve_responses(orchestrator(block_tools(WEATHER.name, BASH.name)), upstream_events("tool_only"))
    response = accumulate(served)
    assert function_calls(response) == [] and response.status == "completed"
    assert WEATHER.name in text_of(response) and BASH.name in text_of(response)


async def test_an_incomplete_response_stays_incomplete_through_a_rewrite() -> None:
    served = await serve_responses(orchestrator(AllCapsPolicy()), upstream_events("max_tokens"))
    assert served[-1]["type"] == "response.incomplete"
    assert terminal(served)["status"] == "incomplete"
    assert terminal(served)["incomplete_details"] == {"reason": "max_output_tokens"}


async def test_usage_is_kept_through_a_rewrite() -> None:
    events = upstream_events("tool_calls")
    served = await serve_responses(orchestrator(AllCapsPolicy()), events)
    assert terminal(served)["usage"] == client_view(events[-1])["response"]["usage"]  # type: ignore[index]


async def test_string_replacement_streams_replaced_text() -> None:
    options = StringReplacementOptions.model_validate({"replacements": [{"from": "fox", "to": "cat"}]})
    served = await serve_responses(orchestrator(StringReplacementPolicy(options)), upstream_events("text"))
    assert text_of(accumulate(served)) == TEXT.replace("fox", "cat")
    assert len([e for e in served if e["type"] == "response.output_text.delta"]) > 1  # still streamed, not held


class BlockOnBash(SimplePolicy):
    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall | str | None:
        if tool_call.name == BASH.name:
            self.block("no shell")
        return tool_call


async def test_nothing_is_served_before_the_first_content_event() -> None:
    sink = InMemoryEventSink()
    orch = orchestrator(BlockForbiddenText(), sink)
    final = await orch.process_request(request(), "t", SPAN)
    served = orch.stream_responses_response(iterate(upstream_events("text")), "t", SPAN, final)
    received = []
    with pytest.raises(PolicyBlockedError):
        async for event in served:
            received.append(event)
    assert received == []
    completed = [e.payload["status"] for e in sink.events if e.event_type == "transaction.completed"]
    assert completed == ["blocked"]


class BlockForbiddenText(SimplePolicy):
    async def on_response_content(self, content: str, request: RequestMessage) -> str:
        self.block("held text refused")


async def test_a_block_after_events_went_out_ends_with_a_consistent_response_failed() -> None:
    orch = orchestrator(BlockOnBash())
    final = await orch.process_request(request(), "t", SPAN)
    served = orch.stream_responses_response(
        iterate(upstream_events("parallel_tool_calls")),  # the lead-in streams; the calls are decided together
        "t",
        SPAN,
        final,
        error_event=lambda error, egress: egress.failed("policy_blocked", "no shell"),
    )
    received = [event async for event in served]
    failed = client_view(received[-1])
    stream = [client_view(e) for e in received]
    assert validate_responses_stream(stream) == []
    assert failed["type"] == "response.failed"
    response = failed["response"]
    assert isinstance(response, dict)
    assert response["error"] == {"code": "policy_blocked", "message": "no shell"}
    assert [item["type"] for item in response["output"]] == ["message"]  # type: ignore[index,union-attr]


@pytest.mark.parametrize("scenario", ["error_event", "failed"])
async def test_upstream_error_events_raise_with_their_code_and_arerecorded_stream(scenario: str) -> None:
    sink = InMemoryEventSink()
    with pytest.raises(UpstreamStreamError) as raised:
        await serve_responses(orchestrator(PassthroughPolicy(), sink), upstream_events(scenario))
    assert (raised.value.error_type, raised.value.status_code) == ("server_error", 500)
    assert "overloaded" in raised.value.upstream_message
    completed = [e.payload["status"] for e in sink.events if e.event_type == "transaction.completed"]
    assert completed == ["error"]


async def test_a_stream_cut_before_response_completed_is_an_error_not_a_complete_response() -> None:
    with pytest.raises(UpstreamStreamError, match=r"before response\.completed"):
        await serve_responses(orchestrator(PassthroughPolicy()), upstream_events("text")[:-3])


async def test_recorded_original_and_final_are_what_was_received_and_served() -> None:
    sink = InMemoryEventSink()
    await serve_responses(orchestrator(AllCapsPolicy(), sink), upstream_events("tool_calls"))
    [recorded] = [e for e in sink.events if e.event_type == "transaction.streaming_response_recorded"]
    original, final = (recorded.payload[key] for key in ("original_response", "final_response"))
    assert isinstance(original, dict) and isinstance(final, dict)
    first, last = original["choices"][0], final["choices"][0]  # type: ignore[index]
    assert first["message"]["content"] == LEAD_IN and last["message"]["content"] == LEAD_IN.upper()  # type: ignore[index]
    assert first["finish_reason"] == last["finish_reason"] == "tool_calls"  # type: ignore[index]
    assert final["usage"] == original["usage"] and final["usage"]["prompt_tokens"] == 42  # type: ignore[index]
    assert not [e for e in sink.events if e.event_type == "stream.protocol_violation"]


async def test_items_that_are_not_response_events_are_refused() -> None:
    with pytest.raises(TypeError, match="expected a LiteLLM event object"):
        await serve_responses(orchestrator(PassthroughPolicy()), [b"data: {}\n\n"])  # type: ignore[list-item]


def test_the_orders_differ() -> None:
    plain, translated = ([kind_of(e) for e in order(upstream_events("tool_calls"))] for order in ORDERS.values())
    assert plain != translated and sorted(plain) == sorted(translated)


def test_nothing_can_follow_a_finished_stream() -> None:
    egress = ResponsesEgress(lambda chunk: None, ResponsesWire())
    egress.finish("stop")
    assert egress.started and egress.finished
    with pytest.raises(RuntimeError, match="has ended"):
        egress.failed("server_error", "too late")


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_text_no_policy_reads_is_recorded_as_if_it_had_been_made_into_chunks(scenario: str, order: str) -> None:
    """A passthrough's text deltas skip chunk building; neither the client nor the record tells."""
    events = events_of(scenario, order)
    forwarded, chunked = InMemoryEventSink(), InMemoryEventSink()
    forwarded_served = await serve_responses(orchestrator(PassthroughPolicy(), forwarded), events)
    chunked_served = await serve_responses(orchestrator(ReadsEveryText(), chunked), events)
    assert forwarded_served == chunked_served
    assert recorded_stream(forwarded) == recorded_stream(chunked)
    for sink in (forwarded, chunked):
        assert not [e for e in sink.events if e.event_type == "stream.protocol_violation"]


@pytest.mark.parametrize(
    ("policy", "forwarded"),
    [(PassthroughPolicy(), True), (ReadsEveryText(), False), *[(policy, True) for policy, _ in tool_deciders()]],
    ids=["passthrough", "reads_text", *TOOL_DECIDER_IDS],
)
async def test_only_text_no_policy_reads_skips_chunk_building(
    policy: Policy, forwarded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    forward_text = ResponsesEgress.forward_text

    def spy(self: ResponsesEgress, delta: ForwardedText) -> None:
        sent.append(delta.text)
        forward_text(self, delta)

    monkeypatch.setattr(ResponsesEgress, "forward_text", spy)
    await serve_responses(orchestrator(policy), upstream_events("text"))
    assert ("".join(sent) == TEXT) is forwarded and bool(sent) is forwarded


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize(("forwarding", "chunking"), tool_deciders(), ids=TOOL_DECIDER_IDS)
async def test_a_policy_deciding_only_tool_calls_serves_and_records_as_if_its_text_were_chunks(
    scenario: str, order: str, forwarding: Policy, chunking: Policy
) -> None:
    events = events_of(scenario, order)
    forwarded, chunked = InMemoryEventSink(), InMemoryEventSink()
    forwarded_served = await serve_responses(orchestrator(forwarding, forwarded), events)
    chunked_served = await serve_responses(orchestrator(chunking, chunked), events)
    assert without_built_ids(forwarded_served, events) == without_built_ids(chunked_served, events)
    assert recorded_stream(forwarded) == recorded_stream(chunked)
    for sink in (forwarded, chunked):
        assert not [e for e in sink.events if e.event_type == "stream.protocol_violation"]
