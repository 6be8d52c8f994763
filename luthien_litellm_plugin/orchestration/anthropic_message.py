"""Complete Anthropic Messages responses: policies see a `ModelResponse`, the client gets its message.

The message is converted with LiteLLM's own Anthropic parser. What the policy changed (text,
tool calls, finish) is then written back into the original message, so every block the engine
does not model (thinking, redacted thinking, server tools) and every field (usage with cache
tokens, ids) stays exactly as the upstream sent it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx
from litellm.llms.anthropic.chat.transformation import AnthropicConfig
from litellm.types.utils import ChatCompletionMessageToolCall, Choices, ModelResponse

from luthien_litellm_plugin.orchestration.revision import Revision, response_text
from luthien_litellm_plugin.types import JSONObject, JSONValue

_CONFIG = AnthropicConfig()


def to_model_response(message: Mapping[str, object]) -> ModelResponse:
    """The message as LiteLLM's OpenAI-format response (what policies receive)."""
    converted: ModelResponse = _CONFIG.transform_parsed_response(
        completion_response=dict(message), raw_response=httpx.Response(200), model_response=ModelResponse()
    )
    return converted


def apply_changes(message: JSONObject, revised: Revision[ModelResponse]) -> JSONObject:
    """`message` with the policy's changes (`revised`); unchanged → `message` itself."""
    if not revised.changed:
        return message
    after = _choice(revised.final)
    content = _blocks(message)
    calls = {call.id: call for call in _tool_calls(after)}
    kept_ids: set[str] = set()
    edited: list[JSONValue] = []
    for block in content:
        if block.get("type") != "tool_use":
            edited.append(block)
            continue
        call = calls.get(str(block.get("id")))
        if call is not None:
            kept_ids.add(str(block.get("id")))
            edited.append(block if _is_unchanged(block, call) else _tool_use(call, like=block))
    edited += [_tool_use(call) for call_id, call in calls.items() if call_id not in kept_ids]
    if response_text(revised.original_fields) != response_text(revised.final_fields):
        edited = _with_text(edited, after.message.content or "")
    result: JSONObject = {**message, "content": edited}
    if result.get("stop_reason") == "tool_use" and not calls:
        result["stop_reason"] = "end_turn"
    return result


def _choice(response: ModelResponse) -> Choices:
    choice = response.choices[0]
    if not isinstance(choice, Choices):
        raise TypeError("a complete response has Choices")
    return choice


def _blocks(message: JSONObject) -> list[JSONObject]:
    content = message.get("content")
    return [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []


def _tool_calls(choice: Choices) -> list[ChatCompletionMessageToolCall]:
    return [call for call in choice.message.tool_calls or [] if isinstance(call, ChatCompletionMessageToolCall)]


def _is_unchanged(block: JSONObject, call: ChatCompletionMessageToolCall) -> bool:
    return block.get("name") == call.function.name and block.get("input") == json.loads(call.function.arguments or "{}")


def _tool_use(call: ChatCompletionMessageToolCall, like: JSONObject | None = None) -> JSONObject:
    arguments = call.function.arguments or "{}"
    block: JSONObject = dict(like) if like is not None else {"type": "tool_use", "id": call.id}
    block["name"] = call.function.name or ""
    block["input"] = json.loads(arguments)
    return block


def _with_text(content: list[JSONValue], text: str) -> list[JSONValue]:
    """One text block holding `text`, where the first text block was (else before any tool use)."""
    position = next((i for i, b in enumerate(content) if isinstance(b, dict) and b.get("type") == "text"), None)
    if position is None:
        position = next(
            (i for i, b in enumerate(content) if isinstance(b, dict) and b.get("type") == "tool_use"), len(content)
        )
    others = [b for b in content if not (isinstance(b, dict) and b.get("type") == "text")]
    if not text:
        return others
    block: JSONObject = {"type": "text", "text": text}
    before = [b for b in content[:position] if not (isinstance(b, dict) and b.get("type") == "text")]
    return [*before, block, *others[len(before) :]]
