"""Fake OpenAI Responses API upstream: `POST /v1/responses` (and `/responses`).

Streams are written the way OpenAI writes them: `event: <type>` and one compact `data:` line per
event, `sequence_number` counting from 0, `response.created` and `response.in_progress` first, each
output item opened (`response.output_item.added`), filled (text parts, argument fragments, reasoning
summary) and closed (`response.output_item.done`), then `response.completed` with the whole output
and the usage (`response.incomplete` when output tokens ran out). Writes are cut across events
like a real TCP stream unless the request asks for `writes:aligned`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.common import CREATED, JSON, Ids, RecordedRequest, UpstreamState, json_response, sse, sse_response
from tests.fakes.scenarios import (
    PROMPT_TOKENS,
    THINKING,
    THINKING_SIGNATURE,
    Options,
    Scenario,
    UnknownScenario,
    build_scenario,
)

SERVER_ERROR = {
    "message": "The server had an error while processing your request. Sorry about that!",
    "type": "server_error",
    "param": None,
    "code": None,
}
STREAM_ERROR: JSON = {"code": "server_error", "message": "The model is overloaded. Please try again later."}
"""What the `error_event` (an `error` event) and `failed` (`response.failed`) scenarios report."""
TOOL_RESULT_ANSWER = "The tool answered."
"""The text a request whose input ends with a `function_call_output` gets (see `responses_scenario`)."""


def responses_usage(scenario: Scenario) -> JSON:
    output = scenario.output_tokens
    reasoning = max(1, len("".join(scenario.thinking_chunks)) // 4) if scenario.thinking_chunks else 0
    return {
        "input_tokens": PROMPT_TOKENS,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": PROMPT_TOKENS + output,
    }


def _response(body: dict[str, Any], ids: Ids, model: str, status: str) -> JSON:
    """A `response` object as OpenAI sends it (empty output, no usage: the caller fills those in)."""
    return {
        "id": ids.resp(),
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": model,
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": None,
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": None,
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": body.get("tools") or [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": None,
        "user": None,
        "metadata": body.get("metadata") or {},
    }


@dataclass
class _Writer:
    """Numbers events as it renders them (`sequence_number` from 0)."""

    ids: Ids
    events: list[bytes] = field(default_factory=list)
    deltas: int = 0

    def emit(self, kind: str, fields: JSON) -> None:
        self.events.append(sse({"type": kind, "sequence_number": len(self.events), **fields}, kind))

    def obfuscation(self) -> str:
        self.deltas += 1
        return self.ids.obfuscation(self.deltas)


Fill = Callable[[_Writer, int, bool], None]
"""Writes an item's inner events, given its output index; `False`: stop after the deltas (a failure)."""


@dataclass(frozen=True)
class _Item:
    """One output item: how it opens, the events that fill it, and how it looks when done."""

    added: JSON
    fill: Fill
    done: JSON


def _items(scenario: Scenario, ids: Ids, body: dict[str, Any], status: str) -> list[_Item]:
    items: list[_Item] = []
    if scenario.thinking_chunks:
        items.append(_reasoning_item(scenario.thinking_chunks, ids.item("rs", len(items)), body))
    if scenario.text_chunks:
        items.append(_message_item(scenario.text_chunks, ids.item("msg", len(items)), status))
    for i, call in enumerate(scenario.tool_calls):
        items.append(_function_call_item(call.name, call.fragments, ids.item("fc", len(items)), ids.call(i)))
    return items


def _message_item(chunks: tuple[str, ...], item_id: str, status: str) -> _Item:
    text = "".join(chunks)
    part: JSON = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    added: JSON = {"id": item_id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
    done: JSON = {**added, "status": status, "content": [{**part, "text": text}]}

    def fill(writer: _Writer, index: int, complete: bool) -> None:
        where: JSON = {"item_id": item_id, "output_index": index, "content_index": 0}
        writer.emit("response.content_part.added", {**where, "part": part})
        for chunk in chunks:
            fields: JSON = {**where, "delta": chunk, "logprobs": [], "obfuscation": writer.obfuscation()}
            writer.emit("response.output_text.delta", fields)
        if complete:
            writer.emit("response.output_text.done", {**where, "text": text, "logprobs": []})
            writer.emit("response.content_part.done", {**where, "part": {**part, "text": text}})

    return _Item(added, fill, done)


def _function_call_item(name: str, fragments: list[str], item_id: str, call_id: str) -> _Item:
    arguments = "".join(fragments)
    added: JSON = {
        "id": item_id,
        "type": "function_call",
        "status": "in_progress",
        "arguments": "",
        "call_id": call_id,
        "name": name,
    }
    done: JSON = {**added, "status": "completed", "arguments": arguments}

    def fill(writer: _Writer, index: int, complete: bool) -> None:
        where: JSON = {"item_id": item_id, "output_index": index}
        for fragment in fragments:
            writer.emit(
                "response.function_call_arguments.delta",
                {**where, "delta": fragment, "obfuscation": writer.obfuscation()},
            )
        if complete:
            writer.emit("response.function_call_arguments.done", {**where, "arguments": arguments})

    return _Item(added, fill, done)


def _reasoning_item(chunks: tuple[str, ...], item_id: str, body: dict[str, Any]) -> _Item:
    added: JSON = {"id": item_id, "type": "reasoning", "summary": []}
    done: JSON = {**added, "summary": [{"type": "summary_text", "text": THINKING}]}
    if "reasoning.encrypted_content" in (body.get("include") or []):
        added["encrypted_content"] = done["encrypted_content"] = THINKING_SIGNATURE

    def fill(writer: _Writer, index: int, complete: bool) -> None:
        where: JSON = {"item_id": item_id, "output_index": index, "summary_index": 0}
        writer.emit("response.reasoning_summary_part.added", {**where, "part": {"type": "summary_text", "text": ""}})
        for chunk in chunks:
            fields: JSON = {**where, "delta": chunk, "obfuscation": writer.obfuscation()}
            writer.emit("response.reasoning_summary_text.delta", fields)
        writer.emit("response.reasoning_summary_text.done", {**where, "text": THINKING})
        done_part: JSON = {"type": "summary_text", "text": THINKING}
        writer.emit("response.reasoning_summary_part.done", {**where, "part": done_part})

    return _Item(added, fill, done)


def _final_status(scenario: Scenario) -> tuple[str, JSON | None]:
    """(the response's status, its `incomplete_details`) once it ends."""
    if scenario.stop == "max_tokens":
        return "incomplete", {"reason": "max_output_tokens"}
    return "completed", None


def responses_stream_events(scenario: Scenario, ids: Ids, model: str, body: dict[str, Any]) -> list[bytes]:
    """The SSE events of a streamed response, `response.created` to `response.completed` (or the failure)."""
    status, incomplete = _final_status(scenario)
    writer = _Writer(ids)
    response = _response(body, ids, model, "in_progress")
    writer.emit("response.created", {"response": response})
    writer.emit("response.in_progress", {"response": response})
    items = _items(scenario, ids, body, status)
    for index, item in enumerate(items):
        writer.emit("response.output_item.added", {"output_index": index, "item": item.added})
        item.fill(writer, index, scenario.failure is None)
        if scenario.failure is not None:
            if scenario.failure == "error_event":
                writer.emit("error", {**STREAM_ERROR, "param": None})
            elif scenario.failure == "failed":
                failed = {**response, "status": "failed", "error": STREAM_ERROR}
                writer.emit("response.failed", {"response": failed})
            return writer.events
        writer.emit("response.output_item.done", {"output_index": index, "item": item.done})
    final = {
        **response,
        "status": status,
        "incomplete_details": incomplete,
        "output": [item.done for item in items],
        "usage": responses_usage(scenario),
    }
    writer.emit("response.completed" if status == "completed" else "response.incomplete", {"response": final})
    return writer.events


def responses_object(scenario: Scenario, ids: Ids, model: str, body: dict[str, Any]) -> JSON:
    """The `response` object of a non-streamed request."""
    status, incomplete = _final_status(scenario)
    return {
        **_response(body, ids, model, status),
        "incomplete_details": incomplete,
        "output": [item.done for item in _items(scenario, ids, body, status)],
        "usage": responses_usage(scenario),
    }


def responses_scenario(options: Options) -> Scenario:
    """The scenario a request asks for; the turn after a tool call (its input ends with the call's
    output) gets a short text answer, except in a `tool_loop`, which scripts its own."""
    if options.tool_result is not None and options.scenario != "tool_loop":
        return Scenario("text", (TOOL_RESULT_ANSWER,))
    return build_scenario(options, "responses")


async def responses(request: Request, state: UpstreamState) -> Response:
    """Answer one Responses API request according to its scenario."""
    recorded, ids = await state.record(request)
    body: dict[str, Any] = recorded.body
    headers = {"x-request-id": ids.request()}

    def error(status: int, fields: JSON) -> Response:
        return json_response(state, recorded, {"error": fields}, status_code=status, headers=headers)

    try:
        scenario = responses_scenario(recorded.options)
    except UnknownScenario as exc:
        return error(400, {"message": str(exc), "type": "invalid_request_error", "param": "input", "code": None})
    if scenario.failure == "error_500":
        return error(500, SERVER_ERROR)
    model = str(body.get("model", ""))
    if scenario.failure is None and body.get("store", True):
        completed = responses_object(scenario, ids, model, body)
        state.stored_responses[str(completed["id"])] = completed
    if not body.get("stream"):
        if scenario.failure in ("error_event", "failed"):
            return error(500, {**SERVER_ERROR, "message": STREAM_ERROR["message"]})
        if body.get("background"):  # OpenAI answers at once; the output is fetched later by id
            return json_response(state, recorded, _response(body, ids, model, "queued"), headers=headers)
        data = responses_object(scenario, ids, model, body)
        return json_response(state, recorded, data, headers=headers, failure=scenario.failure)
    events = responses_stream_events(scenario, ids, model, body)
    return sse_response(state, recorded, events, "responses", headers=headers, failure=scenario.failure)


async def retrieve(request: Request, state: UpstreamState) -> Response:
    """`GET /v1/responses/{id}`: a stored response, as OpenAI returns it (404 when it has none)."""
    recorded = RecordedRequest(request.url.path, dict(request.headers), {}, Options())
    state.requests.append(recorded)
    found = state.stored_responses.get(request.path_params["response_id"])
    if found is None:
        missing = {"message": "No response found", "type": "invalid_request_error", "param": None, "code": None}
        return json_response(state, recorded, {"error": missing}, status_code=404)
    return json_response(state, recorded, found)


def responses_routes(state: UpstreamState) -> list[Route]:
    """Routes of the fake Responses API, bound to the server's state."""

    async def endpoint(request: Request) -> Response:
        return await responses(request, state)

    async def get_endpoint(request: Request) -> Response:
        return await retrieve(request, state)

    paths = ("/v1/responses", "/responses")
    return [Route(path, endpoint, methods=["POST"]) for path in paths] + [
        Route(f"{path}/{{response_id}}", get_endpoint, methods=["GET"]) for path in paths
    ]
