"""A fake OpenAI + Anthropic upstream, served on 127.0.0.1 in a background thread.

The scenario comes from the last user message: `scenario:<name>` (default `text`).
Scenarios: text, tool_calls (text then two fragmented calls: get_weather and bash),
error_500, disconnect (a few chunks, then the connection is cut), hang (stalls until
shutdown), slow (`delay_ms:<n>` between events, default 50). `echo:<token>` appends
` [<token>]` to the text, so concurrent tests can tell their responses apart.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.wire import anthropic_sse, openai_sse

TEXT_PARTS = ["Hello", " from", " the", " fake", " upstream."]
TEXT = "".join(TEXT_PARTS)
LEAD_IN = "Let me check."
TOOL_CALLS = [
    ("call_weather", "get_weather", ['{"loc', 'ation": ', '"Paris"}']),
    ("call_bash", "bash", ['{"comm', 'and": "rm', ' -rf /tmp/x"}']),
]
ANTHROPIC_TOOLS = [("toolu_weather", n, f) for _, n, f in TOOL_CALLS[:1]] + [
    ("toolu_bash", TOOL_CALLS[1][1], TOOL_CALLS[1][2])
]


@dataclass
class Upstream:
    base_url: str
    requests: list[dict[str, object]] = field(default_factory=list)


def _scenario(body: dict[str, object]) -> tuple[str, int]:
    messages = body.get("messages") or []
    last = ""
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            last = content if isinstance(content, str) else json.dumps(content)
            break
    found = re.search(r"scenario:(\w+)", last)
    delay = re.search(r"delay_ms:(\d+)", last)
    return (found.group(1) if found else "text"), int(delay.group(1)) if delay else 50


def _text_parts(body: dict[str, object], parts: list[str]) -> list[str]:
    found = re.search(r"echo:(\S+)", json.dumps(body.get("messages")))
    return [*parts, f" [{found.group(1)}]"] if found else parts


def _events(body: bytes) -> list[bytes]:
    return [part + b"\n\n" for part in body.split(b"\n\n") if part]


class _App:
    def __init__(self, upstream: Upstream, stop: asyncio.Event | None) -> None:
        self.upstream = upstream
        self.stop = stop

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.upstream.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        scenario, delay = _scenario(body)
        if scenario == "error_500":
            return JSONResponse({"error": {"message": "upstream exploded", "type": "server_error"}}, status_code=500)
        tools = TOOL_CALLS if scenario == "tool_calls" else []
        text = _text_parts(body, [LEAD_IN] if tools else TEXT_PARTS)
        if not body.get("stream"):
            return JSONResponse(_openai_message(body, "".join(text), tools))
        return self._stream(_events(openai_sse(text, tools)), scenario, delay)

    async def messages(self, request: Request) -> Response:
        body = await request.json()
        self.upstream.requests.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
        scenario, delay = _scenario(body)
        if scenario == "error_500":
            return JSONResponse({"type": "error", "error": {"type": "api_error", "message": "upstream exploded"}}, 500)
        tools = ANTHROPIC_TOOLS if scenario == "tool_calls" else []
        text = _text_parts(body, [LEAD_IN] if tools else TEXT_PARTS)
        if not body.get("stream"):
            return JSONResponse(_anthropic_message(body, "".join(text), tools))
        return self._stream(_events(anthropic_sse(text, tools)), scenario, delay)

    def _stream(self, events: list[bytes], scenario: str, delay_ms: int) -> Response:
        async def generate() -> AsyncIterator[bytes]:
            for position, event in enumerate(events):
                if scenario == "disconnect" and position == 3:
                    raise ConnectionResetError("fake upstream cut the connection")
                if scenario == "hang" and position == 3:
                    assert self.stop is not None
                    await self.stop.wait()
                    return
                if scenario == "slow" and position:
                    await asyncio.sleep(delay_ms / 1000)  # pacing the fake stream, not test synchronisation
                yield event

        return StreamingResponse(generate(), media_type="text/event-stream")


def _openai_message(body: dict[str, object], text: str, tools: list[tuple[str, str, list[str]]]) -> dict[str, object]:
    calls = [{"id": i, "type": "function", "function": {"name": n, "arguments": "".join(f)}} for i, n, f in tools]
    message: dict[str, object] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": body.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
    }


def _anthropic_message(
    body: dict[str, object], text: str, tools: list[tuple[str, str, list[str]]]
) -> dict[str, object]:
    content: list[dict[str, object]] = [{"type": "text", "text": text}]
    content += [{"type": "tool_use", "id": i, "name": n, "input": json.loads("".join(f))} for i, n, f in tools]
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": content,
        "stop_reason": "tool_use" if tools else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 11,
            "output_tokens": 25,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_upstream() -> Iterator[Upstream]:
    """Serve the fake upstream on a free 127.0.0.1 port until the block exits."""
    port = free_port()
    upstream = Upstream(base_url=f"http://127.0.0.1:{port}")
    loop_ready = threading.Event()
    state: dict[str, object] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        stop = asyncio.Event()
        app_logic = _App(upstream, stop)
        routes = [
            Route(path, app_logic.chat, methods=["POST"]) for path in ("/v1/chat/completions", "/chat/completions")
        ] + [Route("/v1/messages", app_logic.messages, methods=["POST"])]
        server = uvicorn.Server(
            uvicorn.Config(
                Starlette(routes=routes),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                timeout_keep_alive=120,  # longer than the proxies pool idle connections (see server.py)
            )
        )
        state.update(loop=loop, stop=stop, server=server)
        loop_ready.set()
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    loop_ready.wait()
    server = state["server"]
    assert isinstance(server, uvicorn.Server)
    while not server.started:  # uvicorn exposes no startup event; bounded by the thread's own startup
        if not thread.is_alive():
            raise RuntimeError("fake upstream failed to start")
        threading.Event().wait(0.01)
    try:
        yield upstream
    finally:
        loop = state["loop"]
        stop = state["stop"]
        assert isinstance(loop, asyncio.AbstractEventLoop) and isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        server.should_exit = True
        thread.join(timeout=10)
