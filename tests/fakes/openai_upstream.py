"""Fake OpenAI Chat Completions upstream: `POST /v1/chat/completions` (and `/chat/completions`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.common import CREATED, JSON, Ids, UpstreamState, json_response, sse, sse_response
from tests.fakes.scenarios import (
    PROMPT_TOKENS,
    Scenario,
    ToolCall,
    UnknownScenario,
    build_scenario,
    malformed_messages,
)

FINISH_REASONS = {"stop": "stop", "tool_calls": "tool_calls", "function_call": "function_call", "max_tokens": "length"}
SERVER_ERROR = {
    "message": "The server had an error while processing your request. Sorry about that!",
    "type": "server_error",
    "param": None,
    "code": None,
}


def openai_usage(scenario: Scenario) -> JSON:
    """The usage object OpenAI reports (same numbers streamed and not)."""
    completion = scenario.output_tokens
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion,
        "total_tokens": PROMPT_TOKENS + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def openai_stream_events(scenario: Scenario, ids: Ids, model: str, include_usage: bool) -> list[bytes]:
    """The SSE events of a streamed chat completion, `data: [DONE]` included (unless it fails)."""
    base: JSON = {
        "id": ids.chatcmpl(),
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": ids.fingerprint(),
    }
    usage_field: JSON = {"usage": None} if include_usage else {}

    def chunk(delta: JSON, finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return sse({**base, "choices": [choice], **usage_field})

    starts = [_start_delta(call, i, ids) for i, call in enumerate(scenario.tool_calls)]
    events: list[bytes] = []
    if scenario.text_chunks or not starts:
        events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
    else:  # tool calls only: OpenAI opens with the role and the first call in one delta
        events.append(chunk({"role": "assistant", "content": None, **starts[0], "refusal": None}))
    events += [chunk({"content": text}) for text in scenario.text_chunks]
    if scenario.failure is not None:
        if scenario.failure == "error_event":
            events.append(sse({"error": SERVER_ERROR}))
        return events
    for i, call in enumerate(scenario.tool_calls):
        if i or scenario.text_chunks:
            events.append(chunk(starts[i]))
        events += [chunk(_fragment_delta(call, i, f)) for f in call.fragments]
    events.append(chunk({}, FINISH_REASONS[scenario.stop]))
    if include_usage:
        events.append(sse({**base, "choices": [], "usage": openai_usage(scenario)}))
    events.append(sse("[DONE]"))
    return events


def _start_delta(call: ToolCall, index: int, ids: Ids) -> JSON:
    """The delta that opens a call: a `tool_calls` entry (function or custom) or the legacy `function_call`."""
    if call.shape == "function_call":
        return {"function_call": {"name": call.name, "arguments": ""}}
    if call.shape == "custom":
        return {
            "tool_calls": [
                {"index": index, "id": ids.call(index), "type": "custom", "custom": {"name": call.name, "input": ""}}
            ]
        }
    return {
        "tool_calls": [
            {
                "index": index,
                "id": ids.call(index),
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
        ]
    }


def _fragment_delta(call: ToolCall, index: int, fragment: str) -> JSON:
    if call.shape == "function_call":
        return {"function_call": {"arguments": fragment}}
    if call.shape == "custom":
        return {"tool_calls": [{"index": index, "custom": {"input": fragment}}]}
    return {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}


def _message_call(call: ToolCall, index: int, ids: Ids) -> JSON:
    if call.shape == "custom":
        return {"id": ids.call(index), "type": "custom", "custom": {"name": call.name, "input": call.arguments}}
    return {"id": ids.call(index), "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def openai_completion(scenario: Scenario, ids: Ids, model: str) -> JSON:
    """The `chat.completion` object of a non-streamed request."""
    message: JSON = {
        "role": "assistant",
        "content": scenario.text or None,
        "refusal": None,
        "annotations": [],
    }
    legacy = [call for call in scenario.tool_calls if call.shape == "function_call"]
    if legacy:
        message["function_call"] = {"name": legacy[0].name, "arguments": legacy[0].arguments}
    elif scenario.tool_calls:
        message["tool_calls"] = [_message_call(call, i, ids) for i, call in enumerate(scenario.tool_calls)]
    return {
        "id": ids.chatcmpl(),
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": FINISH_REASONS[scenario.stop]}],
        "usage": openai_usage(scenario),
        "service_tier": "default",
        "system_fingerprint": ids.fingerprint(),
    }


async def chat_completions(request: Request, state: UpstreamState) -> Response:
    """Answer one chat-completions request according to its scenario."""
    recorded, ids = await state.record(request)
    body: dict[str, Any] = recorded.body
    headers = {"x-request-id": ids.request()}

    def invalid_request(message: str) -> Response:
        error = {"message": message, "type": "invalid_request_error", "param": "messages", "code": None}
        return json_response(state, recorded, {"error": error}, status_code=400, headers=headers)

    invalid = malformed_messages(body)
    if invalid is not None:
        return invalid_request(invalid)
    try:
        scenario = build_scenario(recorded.options, "openai")
    except UnknownScenario as exc:
        return invalid_request(str(exc))
    if scenario.failure == "error_500":
        return json_response(state, recorded, {"error": SERVER_ERROR}, status_code=500, headers=headers)
    model = str(body.get("model", ""))
    if not body.get("stream"):
        if scenario.failure == "error_event":
            overloaded = {**SERVER_ERROR, "message": "The engine is currently overloaded, please try again later."}
            return json_response(state, recorded, {"error": overloaded}, status_code=503, headers=headers)
        completion = openai_completion(scenario, ids, model)
        return json_response(state, recorded, completion, headers=headers, failure=scenario.failure)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    events = openai_stream_events(scenario, ids, model, include_usage)
    return sse_response(state, recorded, events, "openai", headers=headers, failure=scenario.failure)


def openai_routes(state: UpstreamState) -> list[Route]:
    """Routes of the fake OpenAI API, bound to the server's state."""

    async def endpoint(request: Request) -> Response:
        return await chat_completions(request, state)

    return [Route(path, endpoint, methods=["POST"]) for path in ("/v1/chat/completions", "/chat/completions")]
