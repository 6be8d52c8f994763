"""Fake Anthropic Messages upstream: `POST /v1/messages`."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.common import JSON, Ids, UpstreamState, json_response, sse, sse_response
from tests.fakes.scenarios import (
    CACHE_CREATION_INPUT_TOKENS,
    CACHE_READ_INPUT_TOKENS,
    PROMPT_TOKENS,
    REDACTED_THINKING_DATA,
    THINKING,
    THINKING_SIGNATURE,
    Scenario,
    UnknownScenario,
    build_scenario,
    malformed_messages,
)

STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "max_tokens": "max_tokens"}
OVERLOADED = {"type": "overloaded_error", "message": "Overloaded"}


def anthropic_usage(output_tokens: int) -> JSON:
    """Usage as in `message_start` (and non-streamed messages): input, cache and output tokens."""
    return {
        "input_tokens": PROMPT_TOKENS,
        "cache_creation_input_tokens": CACHE_CREATION_INPUT_TOKENS,
        "cache_read_input_tokens": CACHE_READ_INPUT_TOKENS,
        "cache_creation": {"ephemeral_5m_input_tokens": CACHE_CREATION_INPUT_TOKENS, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _message(scenario: Scenario, ids: Ids, model: str, content: list[JSON], done: bool) -> JSON:
    return {
        "id": ids.msg(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS[scenario.stop] if done else None,
        "stop_sequence": None,
        "usage": anthropic_usage(scenario.output_tokens if done else 1),
    }


def _blocks(scenario: Scenario, ids: Ids) -> list[tuple[JSON, list[JSON], JSON]]:
    """Each content block as (start block, deltas, complete block)."""
    blocks: list[tuple[JSON, list[JSON], JSON]] = []
    if scenario.thinking_chunks:
        deltas: list[JSON] = [{"type": "thinking_delta", "thinking": t} for t in scenario.thinking_chunks]
        deltas.append({"type": "signature_delta", "signature": THINKING_SIGNATURE})
        full = {"type": "thinking", "thinking": THINKING, "signature": THINKING_SIGNATURE}
        blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, deltas, full))
    if scenario.redacted_thinking is not None:
        redacted = {"type": "redacted_thinking", "data": scenario.redacted_thinking}
        blocks.append((redacted, [], redacted))
    if scenario.text_chunks:
        text_deltas: list[JSON] = [{"type": "text_delta", "text": t} for t in scenario.text_chunks]
        blocks.append(({"type": "text", "text": ""}, text_deltas, {"type": "text", "text": scenario.text}))
    for i, call in enumerate(scenario.tool_calls):
        start = {"type": "tool_use", "id": ids.toolu(i), "name": call.name, "input": {}}
        fragments = ["", *call.fragments]  # Anthropic opens every tool_use with an empty partial_json
        json_deltas: list[JSON] = [{"type": "input_json_delta", "partial_json": f} for f in fragments]
        blocks.append((start, json_deltas, {**start, "input": json.loads(call.arguments)}))
    return blocks


def anthropic_stream_events(scenario: Scenario, ids: Ids, model: str) -> list[bytes]:
    """The SSE events of a streamed message, from `message_start` to `message_stop` (or the failure)."""
    message = _message(scenario, ids, model, [], done=False)
    events = [sse({"type": "message_start", "message": message}, "message_start")]
    for index, (start, deltas, _) in enumerate(_blocks(scenario, ids)):
        events.append(
            sse({"type": "content_block_start", "index": index, "content_block": start}, "content_block_start")
        )
        if index == 0:
            events.append(sse({"type": "ping"}, "ping"))
        events += [
            sse({"type": "content_block_delta", "index": index, "delta": d}, "content_block_delta") for d in deltas
        ]
        if scenario.failure is not None:
            if scenario.failure == "error_event":
                events.append(sse({"type": "error", "error": OVERLOADED}, "error"))
            return events
        events.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    stop = {"stop_reason": STOP_REASONS[scenario.stop], "stop_sequence": None}
    events.append(
        sse(
            {"type": "message_delta", "delta": stop, "usage": {"output_tokens": scenario.output_tokens}},
            "message_delta",
        )
    )
    events.append(sse({"type": "message_stop"}, "message_stop"))
    return events


def anthropic_message(scenario: Scenario, ids: Ids, model: str) -> JSON:
    """The message object of a non-streamed request."""
    return _message(scenario, ids, model, [full for _, _, full in _blocks(scenario, ids)], done=True)


async def messages(request: Request, state: UpstreamState) -> Response:
    """Answer one Messages API request according to its scenario."""
    recorded, ids = await state.record(request)
    body: dict[str, Any] = recorded.body
    request_id = ids.request()
    headers = {"request-id": request_id}

    def error(status: int, kind: str, message: str) -> Response:
        payload = {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
        return json_response(state, recorded, payload, status_code=status, headers=headers)

    invalid = malformed_messages(body)
    if invalid is not None:
        return error(400, "invalid_request_error", invalid)
    problem = returned_thinking_problem(body)
    if problem is not None:
        return error(400, "invalid_request_error", problem)
    try:
        scenario = build_scenario(recorded.options, "anthropic")
    except UnknownScenario as exc:
        return error(400, "invalid_request_error", str(exc))
    if scenario.failure == "error_500":
        return error(500, "api_error", "Internal server error")
    model = str(body.get("model", ""))
    if not body.get("stream"):
        if scenario.failure == "error_event":
            return error(529, OVERLOADED["type"], OVERLOADED["message"])
        message = anthropic_message(scenario, ids, model)
        return json_response(state, recorded, message, headers=headers, failure=scenario.failure)
    events = anthropic_stream_events(scenario, ids, model)
    return sse_response(state, recorded, events, "anthropic", headers=headers, failure=scenario.failure)


def returned_thinking_problem(body: dict[str, Any]) -> str | None:
    """What is wrong with the thinking blocks a request sends back, worded like the real API (which
    refuses a changed signature or thinking text); None when every block is as the fake sent it."""
    messages = body.get("messages")
    for i, message in enumerate(messages if isinstance(messages, list) else []):
        content = message.get("content") if isinstance(message, dict) and message.get("role") == "assistant" else None
        for j, block in enumerate(content if isinstance(content, list) else []):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "thinking" and (block.get("thinking"), block.get("signature")) != (THINKING, THINKING_SIGNATURE):
                return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
            if kind == "redacted_thinking" and block.get("data") != REDACTED_THINKING_DATA:
                return f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block"
    return None


def anthropic_routes(state: UpstreamState) -> list[Route]:
    """Routes of the fake Anthropic API, bound to the server's state."""

    async def endpoint(request: Request) -> Response:
        return await messages(request, state)

    return [Route("/v1/messages", endpoint, methods=["POST"])]
