"""One case table, run streaming and non-streaming: SimplePolicy must give the same result."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import litellm
import pytest
from litellm.types.utils import ModelResponse, ModelResponseStream

from luthien_litellm_plugin.errors import PolicyBlockedError
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy, ToolCallDecision
from luthien_litellm_plugin.streaming.blocks import ToolCallStreamBlock
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.types import RequestMessage, ToolCall
from tests.streams import SPAN, chunk, finish_reasons, request, serve, served_text, served_tool_calls, usage_chunk

TEXT = [chunk("", role="assistant"), chunk("Hello "), chunk("world"), chunk(finish_reason="stop"), usage_chunk()]
TOOLS = [
    chunk("Checking.", role="assistant"),
    chunk(tool_call=(0, "call_w", "get_weather", "")),
    chunk(tool_call=(0, None, None, '{"location": ')),
    chunk(tool_call=(0, None, None, '"Paris"}')),
    chunk(tool_call=(1, "call_b", "bash", '{"command": ')),
    chunk(tool_call=(1, None, None, '"rm -rf /"}')),
    chunk(finish_reason="tool_calls"),
    usage_chunk(),
]
ONLY_BASH = [
    chunk(tool_call=(0, "call_b", "bash", '{"command": "ls"}'), role="assistant"),
    chunk(finish_reason="tool_calls"),
]


class Upper(SimplePolicy):
    async def on_response_content(self, content: str, request: RequestMessage) -> str:
        return content.upper()


class ToolRule(SimplePolicy):
    def __init__(self, rule: Callable[[ToolCall], ToolCallDecision]) -> None:
        self.rule = rule

    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCallDecision:
        return self.rule(tool_call)


class BlockWorld(SimplePolicy):
    async def on_response_content(self, content: str, request: RequestMessage) -> str:
        if "world" in content:
            self.block("mentions the world")
        return content


def no_bash(call: ToolCall) -> ToolCallDecision:
    return None if call.name == "bash" else call


def bash_to_text(call: ToolCall) -> ToolCallDecision:
    return f" [blocked {call.name}]" if call.name == "bash" else call


def paris_to_rome(call: ToolCall) -> ToolCallDecision:
    return call.model_copy(update={"arguments": call.arguments.replace("Paris", "Rome")})


@dataclass
class Case:
    name: str
    policy: SimplePolicy
    chunks: list[ModelResponseStream]
    text: str
    tools: list[tuple[str, dict[str, str]]]
    finish: str


CASES = [
    Case("identity_text", SimplePolicy(), TEXT, "Hello world", [], "stop"),
    Case("uppercase_text", Upper(), TEXT, "HELLO WORLD", [], "stop"),
    Case(
        "keep_tools",
        SimplePolicy(),
        TOOLS,
        "Checking.",
        [("get_weather", {"location": "Paris"}), ("bash", {"command": "rm -rf /"})],
        "tool_calls",
    ),
    Case(
        "modify_tool",
        ToolRule(paris_to_rome),
        TOOLS,
        "Checking.",
        [("get_weather", {"location": "Rome"}), ("bash", {"command": "rm -rf /"})],
        "tool_calls",
    ),
    Case(
        "drop_one_tool", ToolRule(no_bash), TOOLS, "Checking.", [("get_weather", {"location": "Paris"})], "tool_calls"
    ),
    Case(
        "replace_tool_with_text",
        ToolRule(bash_to_text),
        TOOLS,
        "Checking. [blocked bash]",
        [("get_weather", {"location": "Paris"})],
        "tool_calls",
    ),
    Case("drop_all_tools", ToolRule(no_bash), ONLY_BASH, "", [], "stop"),
    Case(
        "uppercase_with_tools",
        Upper(),
        TOOLS,
        "CHECKING.",
        [("get_weather", {"location": "Paris"}), ("bash", {"command": "rm -rf /"})],
        "tool_calls",
    ),
]


def full_response(chunks: list[ModelResponseStream]) -> ModelResponse:
    built = litellm.stream_chunk_builder([c.model_copy(deep=True) for c in chunks])
    assert isinstance(built, ModelResponse)
    return built


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_streaming(case: Case) -> None:
    orchestrator = create_default_orchestrator(case.policy, ReplayLLMClient())
    served = await serve(orchestrator, case.chunks)
    calls = served_tool_calls(served)
    assert served_text(served) == case.text
    assert [(c["name"], json.loads(str(c["arguments"]))) for c in calls] == case.tools
    assert finish_reasons(served) == [case.finish]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_non_streaming(case: Case) -> None:
    orchestrator = create_default_orchestrator(case.policy, ReplayLLMClient(response=full_response(case.chunks)))
    final = await orchestrator.process_request(request(stream=False), "txn", SPAN)
    response = await orchestrator.process_full_response(final, "txn", SPAN)
    message = response.choices[0].message
    assert (message.content or "") == case.text
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
    assert calls == case.tools
    assert response.choices[0].finish_reason == case.finish


async def test_unchanged_blocks_are_served_as_the_original_chunk_objects() -> None:
    served = await serve(create_default_orchestrator(SimplePolicy(), ReplayLLMClient()), TOOLS)
    originals = {id(c) for c in TOOLS}
    content_and_tool_chunks = [
        c for c in served if c.choices and (c.choices[0].delta.content or c.choices[0].delta.tool_calls)
    ]
    assert content_and_tool_chunks and all(id(c) in originals for c in content_and_tool_chunks)


async def test_no_chunk_is_served_twice() -> None:
    served = await serve(create_default_orchestrator(SimplePolicy(), ReplayLLMClient()), TEXT)
    assert len({id(c) for c in served}) == len(served)
    assert served_text(served) == "Hello world"


async def test_tool_call_is_not_served_before_it_is_decided() -> None:
    """The first delta of a tool call (with its name) must not go out with the text before it."""
    served_calls_at_decision: list[int] = []

    class Spy(SimplePolicy):
        async def on_tool_call_complete(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
            state = ctx.ingress_state
            released = state.raw_chunks[: state.last_emission_index]
            served_calls_at_decision.append(sum(1 for c in released if c.choices and c.choices[0].delta.tool_calls))
            await super().on_tool_call_complete(ctx, block)

        async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCallDecision:
            return None

    served = await serve(create_default_orchestrator(Spy(), ReplayLLMClient()), TOOLS)
    assert served_calls_at_decision == [0, 0]
    assert served_tool_calls(served) == []
    assert served_text(served) == "Checking."
    assert finish_reasons(served) == ["stop"]


@pytest.mark.parametrize("streaming", [True, False])
async def test_block_whole_response_names_the_policy(streaming: bool) -> None:
    policy = BlockWorld()
    client = ReplayLLMClient(TEXT, response=full_response(TEXT))
    orchestrator = create_default_orchestrator(policy, client)
    final = await orchestrator.process_request(request(stream=streaming), "txn", SPAN)
    with pytest.raises(PolicyBlockedError, match="BlockWorld") as raised:
        if streaming:
            async for _ in orchestrator.process_streaming_response(final, "txn", SPAN):
                pass
        else:
            await orchestrator.process_full_response(final, "txn", SPAN)
    assert raised.value.reason == "mentions the world"
