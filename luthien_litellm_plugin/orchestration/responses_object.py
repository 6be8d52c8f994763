"""Complete OpenAI Responses objects: policies see a `ModelResponse`, the client gets its `Response`.

The response's output is read as chat-completions terms (text, function calls, finish, usage).
What the policy changed is then written back into the original output items, so every item the
engine does not model (reasoning, web search, …) and every field (ids, usage, status) stays
exactly as the upstream sent it.
"""

from __future__ import annotations

import uuid

from litellm.responses.utils import ResponseAPILoggingUtils
from litellm.types.llms.openai import ResponsesAPIResponse
from litellm.types.utils import ChatCompletionMessageToolCall, Choices, Function, Message, ModelResponse

from luthien_litellm_plugin.orchestration.revision import Revision, response_text
from luthien_litellm_plugin.streaming.responses_events import plain, plain_object
from luthien_litellm_plugin.types import JSONObject, JSONValue

FINISH_FOR_INCOMPLETE_REASON = {"max_output_tokens": "length", "content_filter": "content_filter"}


def to_model_response(response: ResponsesAPIResponse) -> ModelResponse:
    """The response as an OpenAI chat completion (what policies receive)."""
    items = _items(response)
    text = "".join(_texts(item) for item in items if item.get("type") == "message")
    calls = [_tool_call(item) for item in items if item.get("type") == "function_call"]
    incomplete = plain_object(response.incomplete_details) if response.incomplete_details is not None else {}
    finish = FINISH_FOR_INCOMPLETE_REASON.get(str(incomplete.get("reason")))
    if finish is None:
        finish = "length" if response.status == "incomplete" else "tool_calls" if calls else "stop"
    message = Message(role="assistant", content=text or None, tool_calls=calls or None)
    return ModelResponse(
        id=response.id,
        created=response.created_at,
        model=response.model,
        choices=[Choices(index=0, message=message, finish_reason=finish)],
        usage=ResponseAPILoggingUtils.transform_response_api_usage_to_chat_usage(response.usage),
    )


def apply_changes(response: ResponsesAPIResponse, revised: Revision[ModelResponse]) -> ResponsesAPIResponse:
    """`response` with the policy's changes (`revised`); unchanged → `response` itself."""
    if not revised.changed:
        return response
    after = _choice(revised.final)
    calls = {call.id: call for call in _tool_calls(after)}
    kept: set[str] = set()
    output: list[JSONObject] = []
    for item in _items(response):
        if item.get("type") != "function_call":
            output.append(item)
            continue
        call = calls.get(str(item.get("call_id")))
        if call is not None:
            kept.add(call.id)
            output.append({**item, "name": call.function.name or "", "arguments": call.function.arguments or ""})
    output += [_function_call(call) for call_id, call in calls.items() if call_id not in kept]
    if response_text(revised.original_fields) != response_text(revised.final_fields):
        output = _with_text(output, after.message.content or "")
    outputs: list[JSONValue] = list(output)
    return response.model_copy(update={"output": outputs})


def _items(response: ResponsesAPIResponse) -> list[JSONObject]:
    return [item for item in (plain(value) for value in response.output) if isinstance(item, dict)]


def _texts(item: JSONObject) -> str:
    content = item.get("content")
    parts = content if isinstance(content, list) else []
    return "".join(str(p.get("text") or "") for p in parts if isinstance(p, dict) and p.get("type") == "output_text")


def _tool_call(item: JSONObject) -> ChatCompletionMessageToolCall:
    return ChatCompletionMessageToolCall(
        id=str(item.get("call_id") or item.get("id")),
        type="function",
        function=Function(name=str(item.get("name") or ""), arguments=str(item.get("arguments") or "")),
    )


def _function_call(call: ChatCompletionMessageToolCall) -> JSONObject:
    return {
        "type": "function_call",
        "id": f"fc_{call.id}",
        "call_id": call.id,
        "name": call.function.name or "",
        "arguments": call.function.arguments or "",
        "status": "completed",
    }


def _choice(response: ModelResponse) -> Choices:
    choice = response.choices[0]
    if not isinstance(choice, Choices):
        raise TypeError("a complete response has Choices")
    return choice


def _tool_calls(choice: Choices) -> list[ChatCompletionMessageToolCall]:
    return [call for call in choice.message.tool_calls or [] if isinstance(call, ChatCompletionMessageToolCall)]


def _with_text(output: list[JSONObject], text: str) -> list[JSONObject]:
    """The output with `text` as the only text: in the first message's first text part (its other text
    parts and other messages' text removed), else in a new message before the first function call."""
    result: list[JSONObject] = []
    placed = False
    for item in output:
        if item.get("type") != "message":
            result.append(item)
            continue
        content = item.get("content")
        parts = [p for p in (content if isinstance(content, list) else []) if isinstance(p, dict)]
        kept: list[JSONValue] = []
        for part in parts:
            if part.get("type") != "output_text":
                kept.append(part)
            elif not placed and text:
                kept.append({**part, "text": text})
                placed = True
        if kept:
            result.append({**item, "content": kept})
    if not placed and text:
        position = next((i for i, item in enumerate(result) if item.get("type") == "function_call"), len(result))
        message: JSONObject = {
            "type": "message",
            "id": f"msg_{uuid.uuid4().hex}",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        result.insert(position, message)
    return result
