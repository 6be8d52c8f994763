"""Realistic chunks: provider wire bytes (OpenAI / Anthropic SSE) parsed by LiteLLM itself.

The bytes go through an in-process httpx transport into `litellm.acompletion`, so the
`ModelResponseStream` objects the tests use are exactly what LiteLLM's own stream parsers
produce for that wire traffic (Anthropic → OpenAI translation included).
"""

from __future__ import annotations

import itertools
import json

import httpx
import litellm
import openai
from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler
from litellm.types.utils import ModelResponse, ModelResponseStream

MESSAGES = [{"role": "user", "content": "hi"}]


def _sse(events: list[tuple[str | None, dict[str, object] | str]]) -> bytes:
    lines = []
    for name, data in events:
        body = data if isinstance(data, str) else json.dumps(data)
        lines.append((f"event: {name}\n" if name else "") + f"data: {body}\n\n")
    return "".join(lines).encode()


_OPENAI_BASE = {"id": "chatcmpl-wire", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o"}


def _openai_frame(delta: dict[str, object], finish: str | None = None) -> tuple[None, dict[str, object]]:
    return None, {**_OPENAI_BASE, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _openai_stream(deltas: list[dict[str, object]], finish: str) -> bytes:
    """Role chunk, the deltas, the finish chunk, a usage chunk, `[DONE]`."""
    events: list[tuple[str | None, dict[str, object] | str]] = [_openai_frame({"role": "assistant", "content": ""})]
    events += [_openai_frame(delta) for delta in deltas]
    events.append(_openai_frame({}, finish))
    usage = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}
    events.append((None, {**_OPENAI_BASE, "choices": [], "usage": usage}))
    events.append((None, "[DONE]"))
    return _sse(events)


def openai_sse(
    text_parts: list[str],
    tool_calls: list[tuple[str, str, list[str]]] = (),  # type: ignore[assignment]
    *,
    interleaved: bool = False,
) -> bytes:
    """OpenAI chat-completions SSE: role chunk, text deltas, fragmented tool calls, finish, usage.

    `interleaved`: the calls' deltas alternate (index 0, 1, 0, 1, …), as the format allows.
    """
    deltas: list[dict[str, object]] = [{"content": part} for part in text_parts]
    per_call: list[list[dict[str, object]]] = []
    for index, (call_id, name, fragments) in enumerate(tool_calls):
        first = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        per_call.append([first, *({"index": index, "function": {"arguments": f}} for f in fragments)])
    if interleaved:
        calls = [delta for row in itertools.zip_longest(*per_call) for delta in row if delta is not None]
    else:
        calls = [delta for call in per_call for delta in call]
    deltas += [{"tool_calls": [delta]} for delta in calls]
    return _openai_stream(deltas, "tool_calls" if tool_calls else "stop")


def openai_custom_tool_sse(text_parts: list[str], calls: list[tuple[str, str, list[str]]]) -> bytes:
    """Custom (free-form) tool calls, as OpenAI streams them: `type: custom`, `custom.input` fragments."""
    deltas: list[dict[str, object]] = [{"content": part} for part in text_parts]
    for index, (call_id, name, fragments) in enumerate(calls):
        first = {"index": index, "id": call_id, "type": "custom", "custom": {"name": name, "input": ""}}
        deltas.append({"tool_calls": [first]})
        deltas += [{"tool_calls": [{"index": index, "custom": {"input": f}}]} for f in fragments]
    return _openai_stream(deltas, "tool_calls")


def openai_function_call_sse(text_parts: list[str], name: str, fragments: list[str]) -> bytes:
    """The legacy `function_call` a client that sent `functions` gets (one call, no id)."""
    deltas: list[dict[str, object]] = [{"content": part} for part in text_parts]
    deltas.append({"function_call": {"name": name, "arguments": ""}})
    deltas += [{"function_call": {"arguments": f}} for f in fragments]
    return _openai_stream(deltas, "function_call")


def anthropic_sse(
    text_parts: list[str],
    tool_uses: list[tuple[str, str, list[str]]] = (),  # type: ignore[assignment]
    thinking_parts: list[str] = (),  # type: ignore[assignment]
) -> bytes:
    """Anthropic Messages SSE: optional thinking block, text block, tool_use blocks."""
    usage = {"input_tokens": 11, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    message = {
        "id": "msg_wire",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    events: list[tuple[str | None, dict[str, object] | str]] = [
        ("message_start", {"type": "message_start", "message": message})
    ]
    index = 0

    def block(start: dict[str, object], deltas: list[dict[str, object]]) -> None:
        nonlocal index
        events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}))
        events.extend(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1

    if thinking_parts:
        deltas = [{"type": "thinking_delta", "thinking": t} for t in thinking_parts]
        block(
            {"type": "thinking", "thinking": "", "signature": ""},
            [*deltas, {"type": "signature_delta", "signature": "sig-abc"}],
        )
    if text_parts:
        block({"type": "text", "text": ""}, [{"type": "text_delta", "text": t} for t in text_parts])
    for tool_id, name, fragments in tool_uses:
        block(
            {"type": "tool_use", "id": tool_id, "name": name, "input": {}},
            [{"type": "input_json_delta", "partial_json": f} for f in fragments],
        )
    stop = "tool_use" if tool_uses else "end_turn"
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": 25},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return _sse(events)


def _transport(body: bytes) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    )


async def litellm_stream(provider: str, body: bytes) -> list[ModelResponseStream]:
    """The chunks `litellm.acompletion(stream=True)` yields when the provider sends `body`."""
    if provider == "openai":
        client = openai.AsyncOpenAI(api_key="sk-wire", http_client=httpx.AsyncClient(transport=_transport(body)))
        response = await litellm.acompletion(
            model="openai/gpt-4o", messages=MESSAGES, stream=True, client=client, stream_options={"include_usage": True}
        )
    else:
        handler = AsyncHTTPHandler(transport=_transport(body))
        response = await litellm.acompletion(
            model="anthropic/claude-sonnet-4-5",
            messages=MESSAGES,
            stream=True,
            client=handler,
            api_key="sk-wire",
            stream_options={"include_usage": True},
        )
    return [chunk async for chunk in response]


def assembled_by_litellm(chunks: list[ModelResponseStream]) -> ModelResponse:
    """LiteLLM's own reassembly of a stream (the reference an assembler must agree with)."""
    built = litellm.stream_chunk_builder([c.model_copy(deep=True) for c in chunks], messages=MESSAGES)
    assert isinstance(built, ModelResponse)
    return built


WIRE = {
    "openai_text": ("openai", openai_sse(["Hello", " from", " the", " wire."])),
    "openai_parallel_tool_calls": (
        "openai",
        openai_sse(
            ["Let me check."],
            [
                ("call_w", "get_weather", ['{"loc', 'ation": ', '"Paris"}']),
                ("call_b", "bash", ['{"comm', 'and": "l', 's -la"}']),
            ],
        ),
    ),
    "openai_interleaved_tool_calls": (
        "openai",
        openai_sse(
            [],
            [
                ("call_b", "bash", ['{"comm', 'and": "r', 'm -rf /"}']),
                ("call_w", "get_weather", ['{"loc', 'ation": ', '"Paris"}']),
            ],
            interleaved=True,
        ),
    ),
    "openai_custom_tool_call": (
        "openai",
        openai_custom_tool_sse(
            ["Let me check."], [("call_c1", "get_weather", ["Par", "is"]), ("call_c2", "bash", ["rm -", "rf /tmp/x"])]
        ),
    ),
    "openai_function_call": ("openai", openai_function_call_sse([], "bash", ['{"comm', 'and": "rm', ' -rf /tmp/x"}'])),
    "openai_capitalised_tool": (
        "openai",
        openai_sse(["Running it."], [("call_B", "Bash", ['{"command":', ' "ls"}'])]),
    ),
    "openai_escaped_arguments": (
        "openai",
        # what a model may send: JSON escapes hide "rm -rf" from a search in the raw text
        openai_sse([], [("call_e", "run", ['{"comm', 'and": "\\u0072m', ' -\\u0072f /tmp/x"}'])]),
    ),
    "anthropic_text": ("anthropic", anthropic_sse(["Hello", " from", " Claude."])),
    "anthropic_tool_calls": (
        "anthropic",
        anthropic_sse(
            ["Checking."],
            [
                ("toolu_1", "get_weather", ['{"loc', 'ation": "Par', 'is"}']),
                ("toolu_2", "bash", ['{"command"', ': "rm -rf /tmp/x"}']),
            ],
        ),
    ),
    "anthropic_reasoning": ("anthropic", anthropic_sse(["The answer is 4."], thinking_parts=["2 + 2", " is 4"])),
}
