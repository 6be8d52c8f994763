"""The fake upstreams, checked with the real clients: openai and anthropic SDKs, and LiteLLM."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any, Literal

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import anthropic
import httpx
import litellm
import openai
import pytest
from litellm.exceptions import InternalServerError, MidStreamFallbackError

from tests.fakes import (
    LEAD_IN,
    REDACTED_THINKING_DATA,
    TEXT,
    THINKING,
    THINKING_SIGNATURE,
    FakeUpstream,
    Options,
    build_scenario,
    text_chunks,
)
from tests.fakes.common import coalesce_writes
from tests.fakes.scenarios import DISCONNECT_AFTER, PROMPT_TOKENS

TOOL_SCENARIOS = ("tool_calls", "parallel_tool_calls", "tool_only", "capitalised_tool", "escaped_arguments")
COMMON_OK = ("text", *TOOL_SCENARIOS)
ANTHROPIC_OK = (*COMMON_OK, "thinking", "redacted_thinking", "max_tokens")
EXPECTED_TEXT = {"text": TEXT, "tool_only": ""} | {name: LEAD_IN for name in TOOL_SCENARIOS if name != "tool_only"}
PARTIAL_TEXT = "".join(text_chunks()[:DISCONNECT_AFTER])


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream.running() as running:
        yield running


def ask(markers: str) -> list[Any]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": f"please {markers}"}]


def expected_calls(scenario: str) -> list[tuple[str, str]]:
    return [(c.name, c.arguments) for c in build_scenario(Options(scenario), "anthropic").tool_calls]


def openai_client(upstream: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{upstream.base_url}/v1", api_key="sk-fake", max_retries=0, timeout=10)


def anthropic_client(upstream: FakeUpstream) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=upstream.base_url, api_key="sk-fake", max_retries=0, timeout=10)


# --- server -------------------------------------------------------------------------------------


def test_requests_are_recorded_with_headers_and_options(upstream: FakeUpstream) -> None:
    before = len(upstream.requests)
    openai_client(upstream).chat.completions.create(
        model="gpt-fake", messages=ask("scenario:tool_calls chunks:4 chunk_delay_ms:1 echo:r1")
    )
    recorded = upstream.requests[before]
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["authorization"] == "Bearer sk-fake"
    assert recorded.body["model"] == "gpt-fake"
    assert (recorded.options.scenario, recorded.options.chunks, recorded.options.chunk_delay_ms) == ("tool_calls", 4, 1)
    assert recorded.options.echo == "r1"
    assert recorded.finished.wait(5) and recorded.outcome == "completed"
    assert httpx.get(f"{upstream.base_url}/health").json() == {"status": "ok"}


def test_shutdown_releases_a_hanging_stream_and_joins_the_thread() -> None:
    with FakeUpstream.running() as upstream, httpx.Client(timeout=30) as client:
        payload = {"model": "m", "stream": True, "messages": ask("scenario:hang")}
        with client.stream("POST", f"{upstream.base_url}/v1/chat/completions", json=payload) as response:
            lines = response.iter_lines()
            first = next(lines)
            assert next(lines) == ""
            assert json.loads(next(lines).removeprefix("data: "))["choices"][0]["delta"] == {"content": "Hello from"}
            started = time.monotonic()
            upstream.stop()
            assert time.monotonic() - started < 5
            assert not upstream.alive
            with pytest.raises(httpx.RemoteProtocolError):
                list(lines)
    assert '"role":"assistant"' in first
    assert upstream.requests[0].outcome == "aborted"


@pytest.mark.asyncio(loop_scope="module")
async def test_async_context_manager_and_server_wide_write_mode() -> None:
    async with FakeUpstream.arunning(openai_writes="coalesced") as upstream:
        client = openai.AsyncOpenAI(base_url=f"{upstream.base_url}/v1", api_key="sk-fake", max_retries=0)
        chunks = [c async for c in await client.chat.completions.create(model="m", stream=True, messages=ask(""))]
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == TEXT
        await client.close()
    assert not upstream.alive


def test_client_disconnect_is_recorded(upstream: FakeUpstream) -> None:
    before = len(upstream.requests)
    payload = {"model": "m", "stream": True, "messages": ask("scenario:hang")}
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", f"{upstream.base_url}/v1/messages", json=payload) as response,
    ):
        assert next(response.iter_bytes()).startswith(b"event: message_start")
    recorded = upstream.requests[before]
    assert recorded.finished.wait(5)
    assert recorded.outcome == "client_disconnected"


def test_chunk_delay_paces_the_stream(upstream: FakeUpstream) -> None:
    started = time.monotonic()
    chunks = list(
        openai_client(upstream).chat.completions.create(
            model="m", stream=True, messages=ask("chunks:4 chunk_delay_ms:60")
        )
    )
    assert time.monotonic() - started >= 0.05 * (len(chunks) - 1)  # 60 ms between writes
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == TEXT


def test_coalesced_writes_keep_the_bytes_but_not_the_event_boundaries() -> None:
    events = [f'event: e{i}\ndata: {{"n": {i}}}\n\n'.encode() for i in range(3)]
    events.insert(3, b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n')
    events += [f"event: tail{i}\ndata: {{}}\n\n".encode() for i in range(8)]
    writes = coalesce_writes(events)
    assert b"".join(writes) == b"".join(events)
    assert writes[0] == b"".join(events[:4])
    assert any(not w.endswith(b"\n\n") for w in writes)
    assert any(w.count(b"event:") == 2 for w in writes[1:])


def http_chunks(upstream: FakeUpstream, path: str, payload: dict[str, Any]) -> list[bytes]:
    """The response body as the HTTP/1.1 chunks on the wire (one per write of the fake)."""
    body = json.dumps(payload).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    with socket.create_connection(("127.0.0.1", upstream.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
        raw = b"".join(iter(lambda: sock.recv(65536), b""))
    rest = raw.split(b"\r\n\r\n", 1)[1]
    chunks: list[bytes] = []
    while True:
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            return chunks
        chunks.append(rest[:size])
        rest = rest[size + 2 :]


def test_anthropic_writes_are_not_aligned_with_events_unless_asked(upstream: FakeUpstream) -> None:
    payload = {"model": "c", "max_tokens": 8, "stream": True, "messages": ask("scenario:tool_calls")[1:]}
    coalesced = http_chunks(upstream, "/v1/messages", payload)
    names = [line for line in coalesced[0].decode().split("\n") if line.startswith("event: ")]
    assert names == ["event: message_start", "event: content_block_start", "event: ping", "event: content_block_delta"]
    assert any(not chunk.endswith(b"\n\n") for chunk in coalesced)
    aligned_payload = {**payload, "messages": ask("scenario:tool_calls writes:aligned")[1:]}
    aligned = http_chunks(upstream, "/v1/messages", aligned_payload)
    assert all(chunk.endswith(b"\n\n") and chunk.count(b"event: ") == 1 for chunk in aligned)
    assert b"".join(aligned).count(b"event: ") == b"".join(coalesced).count(b"event: ") > 20


# --- openai SDK -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", COMMON_OK)
def test_openai_stream_reassembles(upstream: FakeUpstream, scenario: str) -> None:
    stream = openai_client(upstream).chat.completions.create(
        model="gpt-fake", stream=True, stream_options={"include_usage": True}, messages=ask(f"scenario:{scenario}")
    )
    chunks = list(stream)
    first = chunks[0].choices[0].delta
    assert first.role == "assistant"
    assert first.content == ("" if scenario != "tool_only" else None)
    text, calls = "", {}  # type: tuple[str, dict[int, list[Any]]]
    for chunk in chunks[:-1]:
        delta = chunk.choices[0].delta
        text += delta.content or ""
        call: Any
        for call in delta.tool_calls or []:
            if call.index in calls:
                assert call.id is None and call.type is None and call.function.name is None
                calls[call.index][1] += call.function.arguments
            else:
                assert call.id.startswith("call_") and call.type == "function"
                calls[call.index] = [call.function.name, call.function.arguments]
    assert text == EXPECTED_TEXT[scenario]
    assert [tuple(calls[i]) for i in sorted(calls)] == expected_calls(scenario)
    assert [c.choices[0].finish_reason for c in chunks[:-1]][-1] == ("tool_calls" if calls else "stop")
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == PROMPT_TOKENS
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("chatcmpl-")
    assert {c.model for c in chunks} == {"gpt-fake"}


@pytest.mark.parametrize("scenario", COMMON_OK)
def test_openai_stream_helper_matches_non_streaming(upstream: FakeUpstream, scenario: str) -> None:
    client = openai_client(upstream)
    with client.chat.completions.stream(model="gpt-fake", messages=ask(f"scenario:{scenario}")) as stream:
        streamed = stream.get_final_completion().choices[0]
    whole = client.chat.completions.create(model="gpt-fake", messages=ask(f"scenario:{scenario}")).choices[0]
    for choice in (streamed, whole):
        assert (choice.message.content or "") == EXPECTED_TEXT[scenario]
        tool_calls: list[Any] = choice.message.tool_calls or []
        calls = [(c.function.name, c.function.arguments) for c in tool_calls]
        assert calls == expected_calls(scenario)
        assert choice.finish_reason == ("tool_calls" if calls else "stop")


def test_openai_wire_ends_with_done_and_has_no_usage_unless_asked(upstream: FakeUpstream) -> None:
    payload = {"model": "m", "stream": True, "messages": ask("chunks:3")}
    body = httpx.post(f"{upstream.base_url}/chat/completions", json=payload).text
    assert body.endswith("data: [DONE]\n\n")
    events = [json.loads(e[len("data: ") :]) for e in body.split("\n\n") if e and e != "data: [DONE]"]
    assert len(events) == 5  # role, three text chunks, finish
    assert all("usage" not in e for e in events)
    assert events[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}


def test_openai_knobs(upstream: FakeUpstream) -> None:
    client = openai_client(upstream)

    def streamed(markers: str) -> list[str]:
        chunks = client.chat.completions.create(model="m", stream=True, messages=ask(markers))
        return [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]

    assert streamed("chunks:25") == text_chunks(25)
    assert "".join(streamed("chunks:14")) == TEXT
    assert "".join(streamed("echo:req7")) == f"{TEXT} [req7]"
    cut = client.chat.completions.create(model="m", messages=ask("scenario:max_tokens")).choices[0]
    assert cut.finish_reason == "length" and cut.message.content and TEXT.startswith(cut.message.content)
    assert cut.message.content != TEXT


def test_openai_errors(upstream: FakeUpstream) -> None:
    client = openai_client(upstream)
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="m", messages=ask("scenario:error_500"))
    assert failed.value.status_code == 500 and failed.value.body["type"] == "server_error"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError, match="no scenario 'thinking'"):
        client.chat.completions.create(model="m", messages=ask("scenario:thinking"))
    for scenario, error in (("disconnect", openai.APIConnectionError), ("error_event", openai.APIError)):
        received: list[str] = []
        with pytest.raises(error):
            for chunk in client.chat.completions.create(model="m", stream=True, messages=ask(f"scenario:{scenario}")):
                received.append(chunk.choices[0].delta.content or "")
        assert "".join(received) == PARTIAL_TEXT
    assert upstream.requests[-2].outcome == "aborted"


# --- anthropic SDK --------------------------------------------------------------------------------


def comparable(message: anthropic.types.Message) -> list[dict[str, Any]]:
    return [{k: v for k, v in block.model_dump().items() if k != "id"} for block in message.content]


@pytest.mark.parametrize("writes", ["coalesced", "aligned"])
@pytest.mark.parametrize("scenario", ANTHROPIC_OK)
def test_anthropic_stream_final_message_matches_non_streaming(
    upstream: FakeUpstream, scenario: str, writes: str
) -> None:
    client = anthropic_client(upstream)
    messages = ask(f"scenario:{scenario} writes:{writes}")[1:]
    with client.messages.stream(model="claude-fake", max_tokens=1024, messages=messages) as stream:
        streamed = stream.get_final_message()
    whole = client.messages.create(model="claude-fake", max_tokens=1024, messages=messages)
    assert comparable(streamed) == comparable(whole)
    assert streamed.stop_reason == whole.stop_reason
    assert streamed.usage.output_tokens == whole.usage.output_tokens
    assert streamed.usage.cache_read_input_tokens == whole.usage.cache_read_input_tokens == 1024
    assert streamed.usage.cache_creation_input_tokens == 128
    assert streamed.model == "claude-fake" and streamed.id.startswith("msg_01")
    blocks: dict[str, Any] = {block.type: block for block in streamed.content}
    if scenario == "thinking":
        assert blocks["thinking"].thinking == THINKING and blocks["thinking"].signature == THINKING_SIGNATURE
    if scenario == "redacted_thinking":
        assert blocks["redacted_thinking"].data == REDACTED_THINKING_DATA
    if scenario == "max_tokens":
        assert streamed.stop_reason == "max_tokens" and TEXT.startswith(blocks["text"].text)
    calls = [(b.name, b.input) for b in streamed.content if b.type == "tool_use"]
    assert calls == [(name, json.loads(arguments)) for name, arguments in expected_calls(scenario)]
    assert all(b.id.startswith("toolu_01") for b in streamed.content if b.type == "tool_use")
    assert streamed.stop_reason == ("tool_use" if calls else "max_tokens" if scenario == "max_tokens" else "end_turn")


def test_anthropic_event_sequence(upstream: FakeUpstream) -> None:
    payload = {"model": "claude-fake", "max_tokens": 64, "stream": True, "messages": ask("scenario:tool_calls")[1:]}
    body = httpx.post(f"{upstream.base_url}/v1/messages", json=payload).text
    events = [block.split("\n") for block in body.split("\n\n") if block]
    names = [lines[0].removeprefix("event: ") for lines in events]
    data = [json.loads(lines[1].removeprefix("data: ")) for lines in events]
    assert all(d["type"] == name for name, d in zip(names, data, strict=True))
    assert names[:4] == ["message_start", "content_block_start", "ping", "content_block_delta"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert data[0]["message"]["usage"]["cache_read_input_tokens"] == 1024
    assert data[-2]["delta"]["stop_reason"] == "tool_use" and data[-2]["usage"]["output_tokens"] > 1
    tool_start = next(d for d in data if d["type"] == "content_block_start" and d["index"] == 1)
    assert tool_start["content_block"]["name"] == "get_weather"
    fragments = [d["delta"]["partial_json"] for d in data if d["type"] == "content_block_delta" and d["index"] == 1]
    assert fragments[0] == "" and len(fragments) > 5
    assert "".join(fragments) == expected_calls("tool_calls")[0][1]


def test_anthropic_errors(upstream: FakeUpstream) -> None:
    client = anthropic_client(upstream)
    with pytest.raises(anthropic.InternalServerError) as failed:
        client.messages.create(model="c", max_tokens=8, messages=ask("scenario:error_500")[1:])
    assert failed.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    received: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as overloaded,
        client.messages.stream(model="c", max_tokens=8, messages=ask("scenario:error_event")[1:]) as stream,
    ):
        received.extend(stream.text_stream)
    assert overloaded.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert "".join(received) == PARTIAL_TEXT
    received.clear()
    with (
        pytest.raises(Exception, match="incomplete chunked read"),
        client.messages.stream(model="c", max_tokens=8, messages=ask("scenario:disconnect")[1:]) as stream,
    ):
        received.extend(stream.text_stream)
    assert "".join(received) == PARTIAL_TEXT
    assert upstream.requests[-1].outcome == "aborted"


# --- LiteLLM (library mode) -----------------------------------------------------------------------


async def litellm_stream(upstream: FakeUpstream, provider: Literal["openai", "anthropic"], markers: str) -> list[Any]:
    model = "openai/fake" if provider == "openai" else "anthropic/claude-fake"
    response = await litellm.acompletion(
        model=model,
        api_base=upstream.base_url,
        api_key="sk-fake",
        messages=ask(markers),
        stream=True,
        stream_options={"include_usage": True},
        num_retries=0,
        max_retries=0,
    )
    return [chunk async for chunk in response]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("scenario", COMMON_OK)
async def test_litellm_streams(upstream: FakeUpstream, provider: Literal["openai", "anthropic"], scenario: str) -> None:
    chunks = await litellm_stream(upstream, provider, f"scenario:{scenario}")
    text, calls = "", {}  # type: tuple[str, dict[int, list[Any]]]
    for chunk in chunks:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = calls.setdefault(call.index, [call.id, call.function.name, ""])
            entry[2] += call.function.arguments or ""
        text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
    assert text == EXPECTED_TEXT[scenario]
    assert [(name, args) for _, name, args in (calls[i] for i in sorted(calls))] == expected_calls(scenario)
    prefix = "call_" if provider == "openai" else "toolu_01"
    assert all(call_id.startswith(prefix) for call_id, _, _ in calls.values())
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls" if calls else "stop"]
    assert chunks[-1].usage.prompt_tokens >= PROMPT_TOKENS


@pytest.mark.asyncio(loop_scope="module")
async def test_litellm_anthropic_thinking(upstream: FakeUpstream) -> None:
    chunks = await litellm_stream(upstream, "anthropic", "scenario:thinking")
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    blocks = [b for c in chunks if c.choices for b in getattr(c.choices[0].delta, "thinking_blocks", None) or []]
    assert reasoning == THINKING
    assert [b["signature"] for b in blocks if b.get("signature")] == [THINKING_SIGNATURE]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_litellm_failures(upstream: FakeUpstream, provider: Literal["openai", "anthropic"]) -> None:
    with pytest.raises(InternalServerError):
        await litellm_stream(upstream, provider, "scenario:error_500")
    for scenario in ("disconnect", "error_event"):
        with pytest.raises(MidStreamFallbackError):
            await litellm_stream(upstream, provider, f"scenario:{scenario}")


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("stream", [True, False])
async def test_litellm_reads_the_custom_and_legacy_tool_call_shapes(upstream: FakeUpstream, stream: bool) -> None:
    """OpenAI-only shapes: custom (free-form) tool calls and the legacy `function_call`."""
    found: dict[str, tuple[list[tuple[str, str, str]], str]] = {}
    for scenario in ("custom_tool_call", "function_call"):
        response = await litellm.acompletion(
            model="openai/fake",
            api_base=upstream.base_url,
            api_key="sk-fake",
            messages=ask(f"scenario:{scenario}"),
            stream=stream,
            num_retries=0,
            max_retries=0,
        )
        if stream:
            chunks = [chunk async for chunk in response]
            message = litellm.stream_chunk_builder(chunks).choices[0]  # type: ignore[union-attr]
        else:
            message = response.choices[0]
        calls = [
            ("custom", c.custom.name, c.custom.input)
            if c.type == "custom"
            else ("function", c.function.name, c.function.arguments)
            for c in message.message.tool_calls or []
        ]
        legacy = message.message.function_call
        if legacy is not None:
            calls.append(("function_call", legacy.name, legacy.arguments))
        found[scenario] = (calls, message.finish_reason)
    assert found == {
        "custom_tool_call": (
            [
                ("function", "get_weather", '{"location": "Paris", "unit": "celsius"}'),
                ("custom", "bash", "rm -rf /tmp/x"),
            ],
            "tool_calls",
        ),
        "function_call": ([("function_call", "bash", '{"command": "rm -rf /tmp/x"}')], "function_call"),
    }
    with pytest.raises(anthropic.BadRequestError, match="no scenario 'custom_tool_call'"):
        anthropic_client(upstream).messages.create(
            model="c", max_tokens=8, messages=ask("scenario:custom_tool_call")[1:]
        )
