"""One request per endpoint, its response verified: (latency, time to first content) in seconds.

Chat: the text and the number of content chunks (a policy that regroups: text only; tool arms: a
tool call too). `/v1/messages`: the text, and streams a policy leaves alone byte for byte (the
upstream's bytes, except that LiteLLM, stock too, names the model group in `message_start`).
`/v1/responses`: the text, the wire rules, and streams a policy leaves alone byte for byte as
stock served the same request in the same run, response ids aside (LiteLLM encrypts each with a
fresh nonce).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

import httpx

from bench.fake_upstream import anthropic_stream
from bench.overhead.arms import TOOLS_MODEL, Arm, messages_model, text_model
from luthien_litellm_plugin.streaming.responses_validator import validate_responses_stream

ANTHROPIC_VERSION = "2023-06-01"
RESPONSE_ID = re.compile(rb'"id":"resp_[^"]+"')
TOOL_TEXT = "Checking."


@dataclass(frozen=True)
class Timing:
    seconds: float
    first: float | None  # time to the first content chunk, streams only


@dataclass
class Call:
    """What one request needs: where, who, what to expect."""

    url: str
    key: str
    arm: Arm
    stream: bool
    chunks: int
    conversation: bool = False  # send an agent's long conversation instead of one short message

    @property
    def text(self) -> str:
        text = TOOL_TEXT if self.arm.tools else "lorem " * self.chunks
        return text.upper() if self.arm.upper else text


def _conversation_parts() -> tuple[
    str, list[tuple[str, str, dict[str, str], str]], list[tuple[str, str, dict[str, object]]]
]:
    """An agent's context, about 80 KB as sent: a long system prompt, 15 tools, 20 tool turns."""
    prose = "The quick brown fox jumps over the lazy dog while the agent reads the repository. " * 6
    system = prose * 40
    schema: dict[str, object] = {
        "type": "object",
        "properties": {f"arg{j}": {"type": "string", "description": prose[:80]} for j in range(6)},
        "required": ["arg0"],
    }
    tools = [(f"tool_{i}", prose[:300], schema) for i in range(15)]
    turns = [(f"call_{i}", f"tool_{i % 15}", {"arg0": f"step {i}", "arg1": prose[:120]}, prose * 2) for i in range(20)]
    return system, turns, tools


def _messages_conversation() -> dict[str, object]:
    system, turns, tools = _conversation_parts()
    messages: list[dict[str, object]] = [{"role": "user", "content": "Fix the failing test."}]
    for call_id, name, arguments, result in turns:
        use = {"type": "tool_use", "id": call_id, "name": name, "input": arguments}
        messages.append({"role": "assistant", "content": [{"type": "text", "text": "Looking."}, use]})
        messages.append(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": result}]}
        )
    messages.append({"role": "user", "content": "hi"})
    described = [{"name": n, "description": d, "input_schema": s} for n, d, s in tools]
    return {"system": system, "tools": described, "messages": messages}


def _chat_conversation() -> dict[str, object]:
    system, turns, tools = _conversation_parts()
    messages: list[dict[str, object]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": "Fix the failing test."},
    ]
    for call_id, name, arguments, result in turns:
        function = {"name": name, "arguments": json.dumps(arguments)}
        messages.append(
            {
                "role": "assistant",
                "content": "Looking.",
                "tool_calls": [{"id": call_id, "type": "function", "function": function}],
            }
        )
        messages.append({"role": "tool", "tool_call_id": call_id, "content": result})
    messages.append({"role": "user", "content": "go"})
    described = [{"type": "function", "function": {"name": n, "description": d, "parameters": s}} for n, d, s in tools]
    return {"tools": described, "messages": messages}


MESSAGES_CONVERSATION = _messages_conversation()
CHAT_CONVERSATION = _chat_conversation()
"""The agent workloads' request fields (`Call.conversation`), built once."""

stock_responses: dict[tuple[bool, int], bytes] = {}
"""What the first arm that changes nothing served for each `/v1/responses` request kind, ids blanked."""


async def chat(client: httpx.AsyncClient, call: Call) -> Timing:
    """One `/v1/chat/completions` request, verified."""
    model = TOOLS_MODEL if call.arm.tools else text_model(call.chunks)
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": "go"}], "stream": call.stream}
    if call.conversation:
        body.update(CHAT_CONVERSATION)
    headers = {"Authorization": f"Bearer {call.key}"}
    started = time.perf_counter()
    if not call.stream:
        response = await client.post(f"{call.url}/v1/chat/completions", json=body, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == call.text
        return Timing(elapsed, None)
    first: float | None = None
    text, content_chunks, tools = "", 0, 0
    async with client.stream("POST", f"{call.url}/v1/chat/completions", json=body, headers=headers) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"]
            if delta.get("content"):
                first = first or time.perf_counter() - started
                text += delta["content"]
                content_chunks += 1
            tools += len(delta.get("tool_calls") or [])
    assert text == call.text, (call.arm.name, text[:80])
    regroups = call.arm.upper or call.arm.tools
    assert regroups or content_chunks == call.chunks, (call.arm.name, content_chunks)
    assert not call.arm.tools or tools > 0
    return Timing(time.perf_counter() - started, first)


def sse_events(body: bytes) -> list[dict[str, object]]:
    """The `data:` payloads of an SSE body, checking each `event:` line names its payload's type."""
    events: list[dict[str, object]] = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        data = json.loads(fields["data"])
        assert fields.get("event") == data["type"], block
        events.append(data)
    return events


async def messages(client: httpx.AsyncClient, call: Call) -> Timing:
    """One `/v1/messages` request, verified; first = the first `content_block_delta`."""
    model = messages_model(call.chunks)
    body: dict[str, object] = {
        "model": model,
        "max_tokens": 256,
        "stream": call.stream,
        "messages": [{"role": "user", "content": "hi"}],
    }
    if call.conversation:
        body.update(MESSAGES_CONVERSATION)
    headers = {"x-api-key": call.key, "anthropic-version": ANTHROPIC_VERSION}
    started = time.perf_counter()
    if not call.stream:
        response = await client.post(f"{call.url}/v1/messages", json=body, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, (call.arm.name, response.text)
        message = response.json()
        assert message["type"] == "message" and message["stop_reason"] == "end_turn", message
        served = "".join(b["text"] for b in message["content"] if b["type"] == "text")
        assert served == call.text, (call.arm.name, message)
        return Timing(elapsed, None)
    first: float | None = None
    received = bytearray()
    marker = b"event: content_block_delta"
    async with client.stream("POST", f"{call.url}/v1/messages", json=body, headers=headers) as response:
        assert response.status_code == 200, (call.arm.name, await response.aread())
        async for piece in response.aiter_bytes():
            received += piece
            if first is None and marker in received[-len(piece) - len(marker) :]:
                first = time.perf_counter() - started
    elapsed = time.perf_counter() - started
    events = sse_events(bytes(received))
    text = "".join(
        str(e["delta"]["text"])  # type: ignore[index]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"  # type: ignore[index]
    )
    assert text == call.text, (call.arm.name, text[:80])
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop", (call.arm.name, events[-1])
    if not call.arm.upper:
        assert bytes(received) == anthropic_stream(call.chunks, model), (call.arm.name, bytes(received[:200]))
    return Timing(elapsed, first)


async def responses(client: httpx.AsyncClient, call: Call) -> Timing:
    """One `/v1/responses` request, verified; first = the first `response.output_text.delta`."""
    body = {"model": text_model(call.chunks), "input": "hi", "stream": call.stream}
    headers = {"Authorization": f"Bearer {call.key}"}
    first: float | None = None
    received = bytearray()
    marker = b'"type":"response.output_text.delta"'
    started = time.perf_counter()
    async with client.stream("POST", f"{call.url}/v1/responses", json=body, headers=headers) as response:
        assert response.status_code == 200, (call.arm.name, await response.aread())
        async for piece in response.aiter_bytes():
            received += piece
            if call.stream and first is None and marker in received[-len(piece) - len(marker) :]:
                first = time.perf_counter() - started
    elapsed = time.perf_counter() - started
    if call.stream:
        frames = [f for f in bytes(received).split(b"\n\n") if f]
        assert frames[-1] == b"data: [DONE]", (call.arm.name, frames[-1][:200])
        events = [json.loads(f[len(b"data: ") :]) for f in frames[:-1]]
        assert validate_responses_stream(events) == [], (call.arm.name, validate_responses_stream(events))
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    else:
        output = json.loads(received)["output"]
        text = "".join(p["text"] for item in output if item["type"] == "message" for p in item["content"])
    assert text == call.text, (call.arm.name, text[:80])
    if not call.arm.upper:  # a policy that changes nothing serves exactly what stock serves
        served = RESPONSE_ID.sub(b'"id":"resp_"', bytes(received))
        expected = stock_responses.setdefault((call.stream, call.chunks), served)
        assert expected == served, (call.arm.name, served[:300])
    return Timing(elapsed, first)


ENDPOINTS = {"chat": chat, "messages": messages, "responses": responses}
