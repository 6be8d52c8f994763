"""Core value types shared by the engine: requests, tool calls, JSON shapes."""

from __future__ import annotations

from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict
from pydantic import JsonValue as PydanticJsonValue

JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = JSONScalar | list["JSONValue"] | dict[str, "JSONValue"]
JSONObject: TypeAlias = dict[str, JSONValue]


class RequestMessage(BaseModel):
    """An OpenAI-format chat request: `model`, `messages`, and any other request fields.

    Fields other than `model` and `messages` (`tools`, `temperature`, `stream`, ...) are kept as
    extra fields and round-trip through `model_dump`.
    """

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, PydanticJsonValue]]


ToolCallType = Literal["function", "custom", "function_call"]
"""How a tool call travels on the chat wire: `function` (a `tool_calls` entry with JSON
arguments), `custom` (a `tool_calls` entry of OpenAI's free-form custom tools: `arguments` holds
its `input` text, not JSON) or `function_call` (the legacy single `function_call` a client asking
with `functions` gets; it has no id)."""


class ToolCall(BaseModel):
    """A complete tool call: what the model asked to run, with its arguments text.

    Whatever its wire shape (`type`), a policy sees one `ToolCall`; a modified one is sent back
    in the same shape.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: str = ""
    type: ToolCallType = "function"
