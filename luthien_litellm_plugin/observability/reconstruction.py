"""Rebuilds a whole chat-completion response from its chunks, incrementally.

Only the parts that make the response are kept (text, tool calls, finish reason, usage), not
the chunk objects, so memory stays proportional to the response text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.chunks import (
    content_of,
    delta_of,
    field_of,
    finish_reason_of,
    tool_call_deltas_of,
    usage_of,
)
from luthien_litellm_plugin.types import JSONObject, JSONValue, ToolCallType


@dataclass
class _ToolCallParts:
    type: ToolCallType = "function"
    id: str | None = None
    name: str = ""
    argument_parts: list[str] = field(default_factory=list)

    def to_dict(self) -> JSONObject:
        text = "".join(self.argument_parts)
        if self.type == "function_call":
            return {"name": self.name, "arguments": text}
        if self.type == "custom":
            return {"id": self.id, "type": "custom", "custom": {"name": self.name, "input": text}}
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": text}}


class ResponseReconstructor:
    """Feed chunks with `add`; `to_dict()` gives the response they add up to (OpenAI format)."""

    def __init__(self) -> None:
        self.chunk_count = 0
        self.finish_reason: str | None = None
        self.usage: JSONObject | None = None
        self._id: str | None = None
        self._model: str | None = None
        self._created: int | None = None
        self._role: str | None = None
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._tool_calls: dict[int, _ToolCallParts] = {}
        self._function_call: _ToolCallParts | None = None

    def add(self, chunk: ModelResponseStream) -> None:
        self.chunk_count += 1
        if self._id is None:
            self._id, self._model, self._created = chunk.id, chunk.model, chunk.created
        usage = usage_of(chunk)
        if usage is not None:
            self.usage = usage.model_dump(exclude_none=True)
        for choice in chunk.choices[:1]:
            delta = delta_of(choice)
            if self._role is None:
                self._role = field_of(delta, "role")
            content = content_of(delta)
            if content:
                self._text.append(content)
            reasoning = field_of(delta, "reasoning_content")
            if reasoning:
                self._reasoning.append(reasoning)
            for call in tool_call_deltas_of(delta):
                self._add_tool_call(call.type, call.index, call.id, call.name, call.fragment)
            if finish_reason_of(choice) is not None:
                self.finish_reason = finish_reason_of(choice)

    def add_text(self, text: str) -> None:
        """A text delta that came without a chunk (one counted like a chunk)."""
        self.chunk_count += 1
        if text:
            self._text.append(text)

    def _add_tool_call(
        self, kind: ToolCallType, index: int, call_id: str | None, name: str | None, fragment: str
    ) -> None:
        if kind == "function_call":
            parts = self._function_call = self._function_call or _ToolCallParts(kind)
        else:
            parts = self._tool_calls.get(index) or self._tool_calls.setdefault(index, _ToolCallParts(kind))
        if call_id and parts.id is None:
            parts.id = call_id
        if name and not parts.name:
            parts.name = name
        if fragment:
            parts.argument_parts.append(fragment)

    @property
    def text(self) -> str:
        return "".join(self._text)

    def to_dict(self) -> JSONObject:
        message: JSONObject = {"role": self._role or "assistant", "content": self.text or None}
        if self._reasoning:
            message["reasoning_content"] = "".join(self._reasoning)
        if self._tool_calls:
            calls: list[JSONValue] = [self._tool_calls[i].to_dict() for i in sorted(self._tool_calls)]
            message["tool_calls"] = calls
        if self._function_call is not None:
            message["function_call"] = self._function_call.to_dict()
        return {
            "id": self._id,
            "object": "chat.completion",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            "usage": self.usage,
        }
