"""Shared test helpers: build edge-case chunks with LiteLLM's own types, read served streams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

from litellm.types.utils import (
    ChatCompletionDeltaToolCall,
    Delta,
    Function,
    ModelResponseStream,
    StreamingChoices,
    Usage,
)
from opentelemetry.trace import INVALID_SPAN, Span

from luthien_litellm_plugin.events import InMemoryEventSink
from luthien_litellm_plugin.orchestration.policy_orchestrator import PolicyOrchestrator
from luthien_litellm_plugin.policies.block_tools import BlockToolsOptions, BlockToolsPolicy
from luthien_litellm_plugin.policies.chain import ChainPolicy
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.streaming.egress_validator import validate_stream
from luthien_litellm_plugin.types import RequestMessage, ToolCall
from tests.fakes.scenarios import BASH, WEATHER

SPAN: Span = INVALID_SPAN
T = TypeVar("T")


def chunk(
    content: str | None = None,
    *,
    role: str | None = None,
    tool_call: tuple[int, str | None, str | None, str] | None = None,
    finish_reason: str | None = None,
    reasoning: str | None = None,
) -> ModelResponseStream:
    """One chunk. `tool_call` is (index, id, name, arguments fragment)."""
    delta_fields: dict[str, object] = {"content": content, "role": role}
    if tool_call is not None:
        index, call_id, name, arguments = tool_call
        delta_fields["tool_calls"] = [
            ChatCompletionDeltaToolCall(
                index=index,
                id=call_id,
                type="function" if call_id else None,
                function=Function(name=name, arguments=arguments),
            )
        ]
    if reasoning is not None:
        delta_fields["reasoning_content"] = reasoning
    return ModelResponseStream(
        id="chatcmpl-test",
        created=1,
        model="test-model",
        choices=[StreamingChoices(index=0, delta=Delta(**delta_fields), finish_reason=finish_reason)],
    )


def usage_chunk(prompt: int = 5, completion: int = 7) -> ModelResponseStream:
    return ModelResponseStream(
        id="chatcmpl-test",
        created=1,
        model="test-model",
        choices=[],
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion),
    )


def request(stream: bool = True, **extra: object) -> RequestMessage:
    return RequestMessage(model="test-model", messages=[{"role": "user", "content": "hi"}], stream=stream, **extra)


async def iterate(items: Sequence[T]) -> AsyncIterator[T]:
    for item in items:
        yield item


async def serve(
    orchestrator: PolicyOrchestrator, chunks: Sequence[ModelResponseStream], transaction_id: str = "txn"
) -> list[ModelResponseStream]:
    """Run chunks through request + streaming, check the egress invariants, return what was served."""
    final = await orchestrator.process_request(request(), transaction_id, SPAN)
    served = [c async for c in orchestrator.stream_response(iterate(chunks), transaction_id, SPAN, final)]
    assert_valid_egress(served)
    return served


def assert_valid_egress(chunks: Sequence[ModelResponseStream]) -> None:
    violations = validate_stream(chunks)
    assert violations == [], violations


def served_text(chunks: Sequence[ModelResponseStream]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def served_tool_calls(chunks: Sequence[ModelResponseStream]) -> list[dict[str, object]]:
    """Tool calls as a client accumulates them by index: [{id, name, arguments}]."""
    calls: dict[int, dict[str, str]] = {}
    for item in chunks:
        for call in (item.choices[0].delta.tool_calls or []) if item.choices else []:
            entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] = entry["id"] or (call.id or "")
            entry["name"] = entry["name"] or (call.function.name or "")
            entry["arguments"] += call.function.arguments or ""
    return [dict(calls[index]) for index in sorted(calls)]


def served_calls(chunks: Sequence[ModelResponseStream]) -> list[tuple[str, str, str]]:
    """Every tool call a client accumulates, whatever its shape: [(type, name, arguments or input)]."""
    calls: dict[tuple[str, int], list[str]] = {}

    def add(kind: str, index: int, name: str | None, text: str | None) -> None:
        entry = calls.setdefault((kind, index), [kind, "", ""])
        entry[1] = entry[1] or (name or "")
        entry[2] += text or ""

    for item in chunks:
        delta = item.choices[0].delta if item.choices else None
        for call in (delta.tool_calls or []) if delta is not None else []:
            if call.type == "custom" or getattr(call, "custom", None) is not None:
                add("custom", call.index, call.custom.name, call.custom.input)
            else:
                add("function", call.index, call.function.name, call.function.arguments)
        legacy = getattr(delta, "function_call", None)
        if legacy is not None:
            add("function_call", 0, legacy.name, legacy.arguments)
    return [(kind, name, text) for kind, name, text in calls.values()]


def finish_reasons(chunks: Sequence[ModelResponseStream]) -> list[str]:
    return [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


def arguments(payload: dict[str, object]) -> str:
    return json.dumps(payload)


class ReadsEveryText(SimplePolicy):
    """Changes nothing, but reads the stream: its text comes as chunks."""

    async def on_response_content(self, content: str, request: RequestMessage) -> str:
        return content


def recorded_stream(sink: InMemoryEventSink) -> dict[str, object]:
    """The one streamed response `sink` recorded, ids and timestamps aside."""
    [recorded] = [e for e in sink.events if e.event_type == "transaction.streaming_response_recorded"]
    return {
        key: {k: v for k, v in value.items() if k not in ("id", "created")} if isinstance(value, dict) else value
        for key, value in recorded.payload.items()
    }


class DropWeather(SimplePolicy):
    """Drops the weather call; keeps every other."""

    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall | str | None:
        return None if tool_call.name == WEATHER.name else tool_call


class _ReplaceWeather(SimplePolicy):
    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall | str | None:
        return "[no weather today]" if tool_call.name == WEATHER.name else tool_call


class _DropWeatherReadingText(DropWeather, ReadsEveryText):
    """The same decisions, but it reads text: its text comes as chunks."""


class _ReplaceWeatherReadingText(_ReplaceWeather, ReadsEveryText):
    """The same decisions, but it reads text: its text comes as chunks."""


class _BlockToolsReadingText(BlockToolsPolicy):
    async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
        """Forwards the block (the default), but reads text: its text comes as chunks."""


def tool_deciders() -> list[tuple[Policy, Policy]]:
    """Policies deciding only tool calls (no hook reads text, so it is forwarded) — `block_tools`
    on bash, a SimplePolicy dropping the weather call, one replacing it with text — each with a
    twin making the same decisions that reads text (so its text comes as chunks)."""
    bash = BlockToolsOptions(tools=[BASH.name])
    return [
        (BlockToolsPolicy(bash), _BlockToolsReadingText(bash).named("BlockToolsPolicy")),
        (DropWeather().named("drop"), _DropWeatherReadingText().named("drop")),
        (_ReplaceWeather().named("replace"), _ReplaceWeatherReadingText().named("replace")),
    ]


TOOL_DECIDER_IDS = ["block_tools", "drop", "replace"]


def tool_deciding_chains() -> tuple[Policy, Policy]:
    """A chain whose members decide only tool calls (its text is forwarded: `block_tools` on bash,
    then a policy replacing the weather call with text), and its twin, whose last member makes the
    same decisions but reads text (its text comes as chunks)."""
    bash = BlockToolsOptions(tools=[BASH.name])
    replace, replace_reading_text = _ReplaceWeather().named("replace"), _ReplaceWeatherReadingText().named("replace")
    return (
        ChainPolicy([BlockToolsPolicy(bash).named("no_bash"), replace]).named("guarded"),
        ChainPolicy([BlockToolsPolicy(bash).named("no_bash"), replace_reading_text]).named("guarded"),
    )
