"""Chains: each policy sees the request or response as the previous one left it, on streams too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from litellm.types.utils import ModelResponse, ModelResponseStream

from luthien_litellm_plugin.errors import PolicyBlockedError, PolicyError
from luthien_litellm_plugin.events import TRANSACTION_COMPLETED, InMemoryEventSink
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.orchestration.policy_orchestrator import PolicyOrchestrator
from luthien_litellm_plugin.policies import (
    BlockDecision,
    Policy,
    PolicyContext,
    SimplePolicy,
    StreamingResponseContext,
    ToolCallStreamBlock,
    hold_block,
)
from luthien_litellm_plugin.policies.all_caps import AllCapsPolicy
from luthien_litellm_plugin.policies.block_tools import BlockToolsOptions, BlockToolsPolicy
from luthien_litellm_plugin.policies.chain import ChainPolicy
from luthien_litellm_plugin.policies.passthrough import PassthroughPolicy
from luthien_litellm_plugin.policies.string_replacement import StringReplacementOptions, StringReplacementPolicy
from luthien_litellm_plugin.streaming import runtime
from luthien_litellm_plugin.types import RequestMessage, ToolCall
from tests.anthropic_streams import (
    accumulate,
    cut,
    serve_anthropic,
    tool_uses,
    upstream_events,
)
from tests.anthropic_streams import text_of as anthropic_text
from tests.responses_streams import serve_responses, without_built_ids
from tests.responses_streams import upstream_events as responses_upstream_events
from tests.streams import (
    SPAN,
    assert_valid_egress,
    chunk,
    finish_reasons,
    iterate,
    recorded_stream,
    request,
    serve,
    served_text,
    served_tool_calls,
    tool_deciding_chains,
)

CALLS = [
    chunk("Let me check.", role="assistant"),
    chunk(tool_call=(0, "call_w", "get_weather", '{"city": "Paris"}')),
    chunk(tool_call=(1, "call_b", "bash", '{"command": "rm -rf /"}')),
    chunk(tool_call=(2, "call_t", "get_time", "{}")),
    chunk(finish_reason="tool_calls"),
]


class Seen(SimplePolicy):
    """Records the text blocks and tool calls it is given, and keeps them."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.calls: list[str] = []

    async def on_response_content(self, content: str, request: RequestMessage) -> str:
        self.texts.append(content)
        return content

    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall:
        self.calls.append(tool_call.name)
        return tool_call


def block_tools(*names: str) -> BlockToolsPolicy:
    return BlockToolsPolicy(BlockToolsOptions(tools=list(names))).named(f"no_{'_'.join(names)}")  # type: ignore[return-value]


def chain(*members: Policy) -> PolicyOrchestrator:
    return create_default_orchestrator(ChainPolicy(members).named("guarded"), ReplayLLMClient())


async def test_a_tool_call_the_first_policy_drops_never_reaches_the_second() -> None:
    seen = Seen()
    served = await serve(chain(block_tools("bash"), seen), CALLS)
    assert seen.calls == ["get_weather", "get_time"]
    assert [call["name"] for call in served_tool_calls(served)] == ["get_weather", "get_time"]
    assert served_text(served) == "Let me check.\n[no_bash: blocked a call to 'bash': tool 'bash' is not allowed]"


async def test_text_the_first_policy_changed_is_what_the_second_sees() -> None:
    seen = Seen()
    served = await serve(chain(AllCapsPolicy(), seen), [chunk("hello ", role="assistant"), chunk("world")])
    assert seen.texts == ["HELLO WORLD"]
    assert served_text(served) == "HELLO WORLD"


async def test_three_policies_each_act_and_the_served_stream_is_well_formed() -> None:
    replace = StringReplacementPolicy(
        StringReplacementOptions.model_validate({"replacements": [{"from": "check", "to": "verify"}]})
    )
    seen = Seen()
    served = await serve(chain(replace, block_tools("bash"), AllCapsPolicy(), seen), CALLS)
    assert served_text(served).startswith("LET ME VERIFY.\n[NO_BASH: BLOCKED")
    assert seen.calls == ["get_weather", "get_time"]
    assert finish_reasons(served) == ["tool_calls"]


async def test_a_replacement_tool_call_reaches_the_next_policy_and_is_numbered_for_the_client() -> None:
    class Swap(SimplePolicy):
        async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall:
            if tool_call.name == "bash":
                return ToolCall(id="call_safe", name="echo", arguments='{"text": "hi"}')
            return tool_call

    seen = Seen()
    served = await serve(chain(Swap(), seen), CALLS)
    assert seen.calls == ["get_weather", "echo", "get_time"]
    assert [(c["name"], c["id"]) for c in served_tool_calls(served)] == [
        ("get_weather", "call_w"),
        ("echo", "call_safe"),
        ("get_time", "call_t"),
    ]


async def test_text_every_policy_forwards_flows_as_it_arrives() -> None:
    upstream_resumes = asyncio.Event()

    async def paused() -> AsyncIterator[ModelResponseStream]:
        yield chunk("first ", role="assistant")
        await upstream_resumes.wait()
        yield chunk("second")
        yield chunk(finish_reason="stop")

    orchestrator = chain(block_tools("bash"), PassthroughPolicy(), block_tools("shell"))
    final = await orchestrator.process_request(request(), "txn", SPAN)
    served = orchestrator.stream_response(paused(), "txn", SPAN, final)
    assert served_text([await anext(served)]) == "first "  # before the upstream said more
    upstream_resumes.set()
    rest = [item async for item in served]
    assert served_text(rest) == "second"


class HeldJudge(Policy):
    """Holds each tool call until `release`; drops those named in `refuse`. `holding` is set once
    `expected` calls are held."""

    def __init__(self, *refuse: str, expected: int = 3) -> None:
        self.refuse = refuse
        self.release = asyncio.Event()
        self.started: list[str] = []
        self.expected = expected
        self.holding = asyncio.Event()

    async def on_tool_call_complete(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
        self.started.append(block.name)
        if len(self.started) == self.expected:
            self.holding.set()
        hold_block(ctx, block, self.decide(block.name), timeout=5)

    async def decide(self, name: str) -> BlockDecision:
        await self.release.wait()
        return BlockDecision.drop(text=f"[{name} refused]") if name in self.refuse else BlockDecision.keep()


async def test_holds_in_several_policies_of_a_chain() -> None:
    first, second = HeldJudge("bash"), HeldJudge("get_time")
    orchestrator = chain(first, second)
    final = await orchestrator.process_request(request(), "txn", SPAN)
    served = orchestrator.stream_response(iterate(CALLS), "txn", SPAN, final)
    first_chunk = await anext(served)
    assert served_text([first_chunk]) == "Let me check."  # text flows through both
    waiting = asyncio.ensure_future(anext(served))
    await first.holding.wait()
    assert second.started == []  # nothing the first still holds reaches the second
    first.release.set()
    second.release.set()
    rest = [await waiting, *[item async for item in served]]
    assert second.started == ["get_weather", "get_time"]
    assert [c["name"] for c in served_tool_calls(rest)] == ["get_weather"]
    assert served_text(rest) == "[bash refused][get_time refused]"
    assert_valid_egress([first_chunk, *rest])


async def test_clients_get_keepalives_while_a_later_policy_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "KEEPALIVE_SECONDS", 0.01)
    judge = HeldJudge()
    orchestrator = chain(PassthroughPolicy(), judge)
    final = await orchestrator.process_request(request(), "txn", SPAN)
    served = orchestrator.stream_response(iterate(CALLS), "txn", SPAN, final, keepalive=lambda: "ping")
    assert served_text([await anext(served)]) == "Let me check."  # type: ignore[list-item]
    assert await anext(served) == "ping"
    judge.release.set()
    rest = [item async for item in served if not isinstance(item, str)]
    assert [c["name"] for c in served_tool_calls(rest)] == ["get_weather", "bash", "get_time"]


async def test_a_block_in_a_later_policy_names_it() -> None:
    class Refuse(SimplePolicy):
        async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall:
            self.block("no tools at all")

    sink = InMemoryEventSink()
    orchestrator = create_default_orchestrator(
        ChainPolicy([PassthroughPolicy(), Refuse().named("no_tools")]).named("guarded"), ReplayLLMClient(), db_pool=sink
    )
    with pytest.raises(PolicyBlockedError, match="no_tools"):
        await serve(orchestrator, CALLS)
    assert [e.payload["status"] for e in sink.of_type(TRANSACTION_COMPLETED)] == ["blocked"]


async def test_an_unexpected_failure_names_the_policy_that_failed() -> None:
    class Broken(SimplePolicy):
        async def on_response_content(self, content: str, request: RequestMessage) -> str:
            raise ValueError("bug")

    with pytest.raises(PolicyError, match="'broken' failed"):
        await serve(chain(PassthroughPolicy(), Broken().named("broken")), CALLS)
    with pytest.raises(PolicyError, match="'broken' failed"):
        await chain(AllCapsPolicy(), Broken().named("broken")).apply_full_response(
            _response("hi"), "t2", SPAN, request(stream=False)
        )


# ----- requests and complete responses -----


class Suffix(Policy):
    """Appends its tag to the last message and to the response text; remembers it saw the request."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    async def on_request(self, request: RequestMessage, context: PolicyContext) -> RequestMessage:
        context.scratchpad["tag"] = self.tag
        last = request.messages[-1]
        messages = [*request.messages[:-1], {**last, "content": f"{last['content']}+{self.tag}"}]
        return request.model_copy(update={"messages": messages})

    async def process_full_response(self, response: ModelResponse, context: PolicyContext) -> ModelResponse:
        assert context.scratchpad["tag"] == self.tag  # its own scratchpad, kept from the request
        result = response.model_copy(deep=True)
        message = result.choices[0].message  # type: ignore[union-attr]
        message.content = f"{message.content}+{self.tag}"
        return result


def _response(text: str) -> ModelResponse:
    return ModelResponse(
        choices=[{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
    )


async def test_requests_and_complete_responses_go_through_each_policy_in_order() -> None:
    orchestrator = chain(Suffix("a"), Suffix("b"), Suffix("c"))
    final = await orchestrator.process_request(request(stream=False), "t", SPAN)
    assert final.messages[-1]["content"] == "hi+a+b+c"
    response = await orchestrator.apply_full_response(_response("out"), "t", SPAN, final)
    assert response.choices[0].message.content == "out+a+b+c"  # type: ignore[union-attr]


async def test_complete_responses_drop_what_the_first_policy_removed_before_the_second() -> None:
    seen = Seen()
    calls = [
        {"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
        {"id": "call_b", "type": "function", "function": {"name": "bash", "arguments": "{}"}},
    ]
    message = {"role": "assistant", "content": "ok", "tool_calls": calls}
    original = ModelResponse(choices=[{"index": 0, "message": message, "finish_reason": "tool_calls"}])
    final = await chain(block_tools("bash"), seen).apply_full_response(original, "t", SPAN, request(stream=False))
    assert seen.calls == ["get_weather"]
    assert [call.function.name for call in final.choices[0].message.tool_calls] == ["get_weather"]  # type: ignore[union-attr]


def test_nested_chains_are_flattened() -> None:
    a, b, c = PassthroughPolicy(), AllCapsPolicy(), Seen()
    assert ChainPolicy([a, ChainPolicy([b, c])]).members == (a, b, c)


# ----- /v1/messages -----


async def test_a_chain_of_policies_that_change_nothing_is_byte_exact_on_messages() -> None:
    events = upstream_events("parallel_tool_calls")
    body = await serve_anthropic(chain(PassthroughPolicy(), block_tools("nothing"), PassthroughPolicy()), cut(events))
    assert body == b"".join(events)


async def test_a_chain_drops_and_changes_on_messages() -> None:
    seen = Seen()
    orchestrator = chain(block_tools("bash"), AllCapsPolicy(), seen)
    message = accumulate(await serve_anthropic(orchestrator, cut(upstream_events("parallel_tool_calls"))))
    assert [name for name, _ in tool_uses(message)] == ["get_weather", "get_time"]
    assert seen.calls == ["get_weather", "get_time"]
    assert anthropic_text(message).startswith("LET ME CHECK THAT FOR YOU.")
    assert "NO_BASH: BLOCKED A CALL TO 'BASH'" in anthropic_text(message)


# ----- text no member reads -----

SCENARIOS = ("text", "tool_calls", "parallel_tool_calls", "tool_only", "thinking", "max_tokens")


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_a_chain_no_member_of_which_reads_text_forwards_it_as_its_twin_would_serve_it_on_messages(
    scenario: str,
) -> None:
    events = upstream_events(scenario)
    (forwarding, chunking), (forwarded, chunked) = tool_deciding_chains(), (InMemoryEventSink(), InMemoryEventSink())
    forwarded_body = await serve_anthropic(create_default_orchestrator(forwarding, db_pool=forwarded), cut(events))
    chunked_body = await serve_anthropic(create_default_orchestrator(chunking, db_pool=chunked), cut(events))
    assert forwarded_body == chunked_body
    assert recorded_stream(forwarded) == recorded_stream(chunked)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_a_chain_no_member_of_which_reads_text_forwards_it_as_its_twin_would_serve_it_on_responses(
    scenario: str,
) -> None:
    events = responses_upstream_events(scenario)
    (forwarding, chunking), (forwarded, chunked) = tool_deciding_chains(), (InMemoryEventSink(), InMemoryEventSink())
    forwarded_served = await serve_responses(create_default_orchestrator(forwarding, db_pool=forwarded), events)
    chunked_served = await serve_responses(create_default_orchestrator(chunking, db_pool=chunked), events)
    assert without_built_ids(forwarded_served, events) == without_built_ids(chunked_served, events)
    assert recorded_stream(forwarded) == recorded_stream(chunked)
