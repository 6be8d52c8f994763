"""A fast fake OpenAI upstream for benchmarks: precomputed bytes, no pacing.

`python -m bench.fake_upstream PORT CHUNKS`. Model `bench-tools` streams text then one tool
call (`get_weather`, arguments in 10 fragments); any other model streams CHUNKS text chunks.
"""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

WORD = "lorem "
BASE = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "bench"}
ARGUMENTS = '{"location": "Paris", "unit": "celsius", "days": 3}'


def frame(delta: dict[str, object], finish: str | None = None) -> bytes:
    chunk = {**BASE, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(chunk)}\n\n".encode()


def text_stream(chunks: int) -> list[bytes]:
    usage = {
        **BASE,
        "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": chunks, "total_tokens": chunks + 5},
    }
    return [
        frame({"role": "assistant", "content": ""}),
        *(frame({"content": WORD}) for _ in range(chunks)),
        frame({}, "stop"),
        f"data: {json.dumps(usage)}\n\n".encode(),
        b"data: [DONE]\n\n",
    ]


def tool_stream() -> list[bytes]:
    step = len(ARGUMENTS) // 10 + 1
    fragments = [ARGUMENTS[i : i + step] for i in range(0, len(ARGUMENTS), step)]
    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    return [
        frame({"role": "assistant", "content": ""}),
        frame({"content": "Checking."}),
        frame({"tool_calls": [first]}),
        *(frame({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}) for f in fragments),
        frame({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]


def full(chunks: int, tools: bool) -> bytes:
    message: dict[str, object] = {"role": "assistant", "content": "Checking." if tools else WORD * chunks}
    if tools:
        message["tool_calls"] = [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ARGUMENTS}}
        ]
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tools else "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": chunks, "total_tokens": chunks + 5},
    }
    return json.dumps(body).encode()


def app(chunks: int) -> Starlette:
    streams = {False: text_stream(chunks), True: tool_stream()}
    bodies = {False: full(chunks, False), True: full(chunks, True)}

    async def completions(request: Request) -> Response:
        body = await request.json()
        tools = body.get("model") == "bench-tools"
        if not body.get("stream"):
            return Response(bodies[tools], media_type="application/json")

        async def generate():  # type: ignore[no-untyped-def]
            for item in streams[tools]:
                yield item

        return StreamingResponse(generate(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


if __name__ == "__main__":
    uvicorn.run(app(int(sys.argv[2])), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
