"""A fast fake OpenAI + Anthropic upstream for benchmarks: precomputed bytes, no pacing.

`python -m bench.fake_upstream PORT CHUNKS`. `/v1/chat/completions`: model `bench-tools` streams
text then one tool call (`get_weather`, arguments in 10 fragments); any other model streams CHUNKS
text chunks. `/judge/v1/chat/completions`: a judge model answering a harmless verdict after
`JUDGE_SECONDS`. `/v1/messages` (native Anthropic): one text block of CHUNKS `text_delta` events, the
SSE bytes written in 4 KB pieces that cut events anywhere, as TCP reads arrive. `/v1/responses`
(OpenAI Responses): one message item of CHUNKS `response.output_text.delta` events between
`response.created` and `response.completed`, also in 4 KB pieces.
"""

from __future__ import annotations

import asyncio
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
WRITE_SIZE = 4096
JUDGE_SECONDS = 0.02
"""How long the fake judge model takes to answer (a fast model, and a latency the judge arm must add)."""
JUDGE_ANSWER = {"role": "assistant", "content": '{"probability": 0.05, "explanation": "a weather lookup"}'}
ANTHROPIC_MODEL = "claude-sonnet-4-5"


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


def compact(data: object) -> str:
    """JSON as Anthropic sends it: no spaces."""
    return json.dumps(data, separators=(",", ":"))


def anthropic_event(data: dict[str, object]) -> bytes:
    """One Anthropic SSE event: `event: <type>`, compact `data:`, blank line."""
    return f"event: {data['type']}\ndata: {compact(data)}\n\n".encode()


def anthropic_message(chunks: int, done: bool, model: str = ANTHROPIC_MODEL) -> dict[str, object]:
    """The message object: complete (non-streamed) or as in `message_start` (no content yet)."""
    return {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": WORD * chunks}] if done else [],
        "stop_reason": "end_turn" if done else None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": chunks if done else 1},
    }


def anthropic_stream(chunks: int, model: str = ANTHROPIC_MODEL) -> bytes:
    """The whole SSE body of a streamed message, `message_start` … `message_stop`."""
    text: dict[str, object] = {"type": "text_delta", "text": WORD}
    delta: dict[str, object] = {"type": "content_block_delta", "index": 0, "delta": text}
    events: list[dict[str, object]] = [
        {"type": "message_start", "message": anthropic_message(chunks, False, model)},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(delta for _ in range(chunks)),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": chunks},
        },
        {"type": "message_stop"},
    ]
    return b"".join(anthropic_event(e) for e in events)


def responses_object(chunks: int, done: bool) -> dict[str, object]:
    """The Responses API `response` object: complete, or as in `response.created` (no output yet)."""
    text = {"type": "output_text", "annotations": [], "logprobs": [], "text": WORD * chunks}
    message = {"id": "msg_bench", "type": "message", "status": "completed", "content": [text], "role": "assistant"}
    usage = {
        "input_tokens": 5,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": chunks,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": chunks + 5,
    }
    return {
        "id": "resp_bench",
        "object": "response",
        "created_at": 1700000000,
        "status": "completed" if done else "in_progress",
        "error": None,
        "incomplete_details": None,
        "model": "bench",
        "output": [message] if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage if done else None,
    }


def responses_stream(chunks: int) -> bytes:
    """The whole SSE body of a streamed response, `response.created` … `response.completed`."""
    where = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    done_part = {**part, "text": WORD * chunks}
    item = {"id": "msg_bench", "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
    events: list[dict[str, object]] = [
        {"type": "response.created", "response": responses_object(chunks, False)},
        {"type": "response.in_progress", "response": responses_object(chunks, False)},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", **where, "part": part},
        *({"type": "response.output_text.delta", **where, "delta": WORD, "logprobs": []} for _ in range(chunks)),
        {"type": "response.output_text.done", **where, "text": WORD * chunks, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": done_part},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {**item, "status": "completed", "content": [done_part]},
        },
        {"type": "response.completed", "response": responses_object(chunks, True)},
    ]
    numbered = ({**event, "sequence_number": number} for number, event in enumerate(events))
    return b"".join(f"event: {e['type']}\ndata: {compact(e)}\n\n".encode() for e in numbered)


def app(chunks: int) -> Starlette:
    streams = {False: text_stream(chunks), True: tool_stream()}
    bodies = {False: full(chunks, False), True: full(chunks, True)}
    sse = anthropic_stream(chunks)
    writes = [sse[i : i + WRITE_SIZE] for i in range(0, len(sse), WRITE_SIZE)]
    message = compact(anthropic_message(chunks, True)).encode()
    responses_sse = responses_stream(chunks)
    responses_writes = [responses_sse[i : i + WRITE_SIZE] for i in range(0, len(responses_sse), WRITE_SIZE)]
    response = compact(responses_object(chunks, True)).encode()

    async def completions(request: Request) -> Response:
        body = await request.json()
        tools = body.get("model") == "bench-tools"
        if not body.get("stream"):
            return Response(bodies[tools], media_type="application/json")

        async def generate():  # type: ignore[no-untyped-def]
            for item in streams[tools]:
                yield item

        return StreamingResponse(generate(), media_type="text/event-stream")

    async def messages(request: Request) -> Response:
        body = await request.json()
        if not body.get("stream"):
            return Response(message, media_type="application/json")

        async def generate():  # type: ignore[no-untyped-def]
            for write in writes:
                yield write

        return StreamingResponse(generate(), media_type="text/event-stream")

    async def responses(request: Request) -> Response:
        body = await request.json()
        if not body.get("stream"):
            return Response(response, media_type="application/json")

        async def generate():  # type: ignore[no-untyped-def]
            for write in responses_writes:
                yield write

        return StreamingResponse(generate(), media_type="text/event-stream")

    async def judge(request: Request) -> Response:
        await asyncio.sleep(JUDGE_SECONDS)
        choice = {"index": 0, "message": JUDGE_ANSWER, "finish_reason": "stop"}
        return Response(
            json.dumps({**BASE, "object": "chat.completion", "choices": [choice]}), media_type="application/json"
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/judge/v1/chat/completions", judge, methods=["POST"]),
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/responses", responses, methods=["POST"]),
        ]
    )


if __name__ == "__main__":
    # Idle keep-alive connections stay open longer than the proxies' HTTP clients keep them
    # pooled (aiohttp: 15 s), while other arms run: with uvicorn's 5 s default, a proxy sometimes
    # reused a connection the server had just closed ("Can not write request body").
    uvicorn.run(
        app(int(sys.argv[2])),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        timeout_keep_alive=120,
    )
