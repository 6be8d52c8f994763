"""The engine on chunks LiteLLM itself produced from OpenAI and Anthropic wire traffic."""

from __future__ import annotations

import json

import pytest
from litellm.types.utils import ChatCompletionMessageCustomToolCall, ModelResponseStream

from luthien_litellm_plugin import events
from luthien_litellm_plugin.chunks import split_chunk
from luthien_litellm_plugin.events import InMemoryEventSink
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies.all_caps import AllCapsPolicy
from luthien_litellm_plugin.policies.passthrough import PassthroughPolicy
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.streaming.assembler import StreamingChunkAssembler
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock, ToolCallStreamBlock
from tests.streams import finish_reasons, serve, served_calls, served_text
from tests.wire import WIRE, assembled_by_litellm, litellm_stream

NAMES = sorted(WIRE)


async def chunks_for(name: str) -> list[ModelResponseStream]:
    provider, body = WIRE[name]
    return await litellm_stream(provider, body)


def reference(chunks: list[ModelResponseStream]) -> tuple[str, list[tuple[str, str, str]], str]:
    """LiteLLM's own reassembly: text, tool calls as `served_calls` gives them, finish reason."""
    choice = assembled_by_litellm(chunks).choices[0]
    message = choice.message  # type: ignore[union-attr]
    calls = [
        ("custom", call.custom.name, call.custom.input)
        if isinstance(call, ChatCompletionMessageCustomToolCall)
        else ("function", call.function.name or "", call.function.arguments)
        for call in message.tool_calls or []
    ]
    if message.function_call is not None:
        calls.append(("function_call", message.function_call.name or "", message.function_call.arguments))
    return message.content or "", calls, str(choice.finish_reason)


def recorded_calls(message: dict[str, object]) -> list[tuple[str, str, str]]:
    """The tool calls of a recorded response message, in the same form."""
    calls: list[tuple[str, str, str]] = []
    for call in message.get("tool_calls") or []:  # type: ignore[attr-defined]
        payload = call["custom"] if call["type"] == "custom" else call["function"]
        calls.append((call["type"], payload["name"], payload.get("input", payload.get("arguments"))))
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        calls.append(("function_call", legacy["name"], legacy["arguments"]))
    return calls


@pytest.mark.parametrize("name", NAMES)
async def test_assembler_agrees_with_litellms_own_reassembly(name: str) -> None:
    chunks = await chunks_for(name)
    text, calls, finish = reference(chunks)
    assembler = StreamingChunkAssembler()
    for item in chunks:
        for part in split_chunk(item):
            assembler.add(part)
    assembler.close()
    state = assembler.state
    content = "".join(b.content for b in state.blocks if isinstance(b, ContentStreamBlock))
    tools = [(b.type, b.name, b.arguments) for b in state.blocks if isinstance(b, ToolCallStreamBlock)]
    assert (content, tools, state.finish_reason) == (text, calls, finish)
    assert state.usage is not None and state.usage.total_tokens > 0
    assert len(state.raw_chunks) >= len(chunks)  # every chunk read, usage after finish included


@pytest.mark.parametrize("name", NAMES)
async def test_passthrough_serves_the_upstream_chunks_in_order(name: str) -> None:
    chunks = await chunks_for(name)
    served = await serve(create_default_orchestrator(PassthroughPolicy(), ReplayLLMClient()), chunks)
    assert [id(c) for c in served] == [id(c) for c in chunks]


@pytest.mark.parametrize("name", NAMES)
async def test_simple_policy_unchanged_and_uppercase(name: str) -> None:
    chunks = await chunks_for(name)
    text, calls, finish = reference(chunks)
    unchanged = await serve(create_default_orchestrator(SimplePolicy(), ReplayLLMClient()), chunks)
    assert (served_text(unchanged), served_calls(unchanged), finish_reasons(unchanged)) == (text, calls, [finish])
    upper = await serve(create_default_orchestrator(AllCapsPolicy(), ReplayLLMClient()), chunks)
    assert (served_text(upper), served_calls(upper)) == (text.upper(), calls)
    reasoning = [getattr(c.choices[0].delta, "reasoning_content", None) for c in upper if c.choices]
    assert [r for r in reasoning if r] == [
        r for r in (getattr(c.choices[0].delta, "reasoning_content", None) for c in chunks if c.choices) if r
    ]


@pytest.mark.parametrize("name", NAMES)
async def test_recorded_original_response_is_what_litellm_assembles(name: str) -> None:
    chunks = await chunks_for(name)
    text, calls, finish = reference(chunks)
    sink = InMemoryEventSink()
    await serve(create_default_orchestrator(AllCapsPolicy(), ReplayLLMClient(), db_pool=sink), chunks)
    [event] = sink.of_type(events.TRANSACTION_STREAMING_RESPONSE_RECORDED)
    original = json.loads(json.dumps(event.payload["original_response"]))
    final = json.loads(json.dumps(event.payload["final_response"]))
    message = original["choices"][0]["message"]
    assert (message["content"] or "", original["choices"][0]["finish_reason"]) == (text, finish)
    assert recorded_calls(message) == calls
    assert (final["choices"][0]["message"]["content"] or "") == text.upper()
    assert original["usage"]["total_tokens"] > 0
