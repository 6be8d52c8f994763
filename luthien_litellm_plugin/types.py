"""Core value types shared by the engine: requests, tool calls, JSON shapes."""

from __future__ import annotations

from typing import TypeAlias

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


class ToolCall(BaseModel):
    """A complete function tool call: what the model asked to run, with its JSON arguments text."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: str = ""
    type: str = "function"
