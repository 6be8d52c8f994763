"""OpenAI Responses stream events as LiteLLM Proxy hands them over: reading and building them.

On `/v1/responses` the streaming hook receives LiteLLM's pydantic event objects (one per
upstream event, already parsed; LiteLLM serializes whatever the hook yields as `data: {json}`).
An event is read through `field` (declared fields and pydantic extras alike, without a
model dump); events the framework writes are built with LiteLLM's own event classes, so they
serialize exactly like the upstream's.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Protocol

from litellm.llms.openai.responses.transformation import OpenAIResponsesAPIConfig
from litellm.types.llms.openai import BaseResponsesStreamEvent
from pydantic import BaseModel, ValidationError

from luthien_litellm_plugin.types import JSONObject, JSONValue

CREATED = "response.created"
IN_PROGRESS = "response.in_progress"
QUEUED = "response.queued"
COMPLETED = "response.completed"
INCOMPLETE = "response.incomplete"
FAILED = "response.failed"
ERROR = "error"
ITEM_ADDED = "response.output_item.added"
ITEM_DONE = "response.output_item.done"
PART_ADDED = "response.content_part.added"
PART_DONE = "response.content_part.done"
TEXT_DELTA = "response.output_text.delta"
TEXT_DONE = "response.output_text.done"
ARGUMENTS_DELTA = "response.function_call_arguments.delta"
ARGUMENTS_DONE = "response.function_call_arguments.done"
REASONING_SUMMARY_DELTA = "response.reasoning_summary_text.delta"
REASONING_TEXT_DELTA = "response.reasoning_text.delta"

OPENING_EVENTS = frozenset({CREATED, IN_PROGRESS, QUEUED})
"""Framing before any output: sent by the egress ahead of the first content event."""
TERMINAL_EVENTS = frozenset({COMPLETED, INCOMPLETE})
"""How a successful stream ends: written by the egress, consistent with what was served."""
FRAMING_EVENTS = OPENING_EVENTS | TERMINAL_EVENTS


Event = BaseResponsesStreamEvent
"""LiteLLM's base class of every Responses stream event (`get` reads declared fields and extras)."""


class ResponsesEvent(Protocol):
    """A Responses stream event: LiteLLM's event models, or a parsed `data:` JSON object (tests)."""

    def get(self, key: str, default: object = None) -> object: ...


def kind_of(event: ResponsesEvent) -> str:
    """The event's `type` (LiteLLM keeps known types as a str enum)."""
    kind = event.get("type")
    if isinstance(kind, Enum):
        return str(kind.value)
    return str(kind)


def int_field(event: ResponsesEvent | Mapping[str, object], name: str) -> int | None:
    value = _field(event, name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def str_field(event: ResponsesEvent | Mapping[str, object], name: str) -> str | None:
    value = _field(event, name)
    return value if isinstance(value, str) else None


def _field(event: ResponsesEvent | Mapping[str, object], name: str) -> object:
    """`event.get(name)`; on a LiteLLM event, read from its fields and extras directly (its `get`
    costs twice as much, and the egress and validator read several fields of every event)."""
    if isinstance(event, BaseResponsesStreamEvent):
        fields = event.__dict__
        if name in fields:
            return fields[name]
        extra = event.__pydantic_extra__
        return extra.get(name) if extra else None
    return event.get(name)


def plain(value: object) -> JSONValue:
    """A JSON value as the client receives it (pydantic objects dumped like LiteLLM serializes them)."""
    if isinstance(value, BaseModel):
        dumped: JSONValue = value.model_dump(mode="json", exclude_none=True, exclude_unset=True)
        return dumped
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def plain_object(value: object) -> JSONObject:
    """`plain(value)` for a value that must be a JSON object ({} when it is missing)."""
    result = plain(value) if value is not None else {}
    if not isinstance(result, dict):
        raise TypeError(f"expected a JSON object, got {type(result).__name__}")
    return result


def build_event(kind: str, fields: JSONObject) -> Event:
    """An event of type `kind`, as LiteLLM builds the upstream's (same class, same serialization;
    like LiteLLM, constructed unvalidated when its model is stricter than the provider's JSON)."""
    model = OpenAIResponsesAPIConfig.get_event_model_class(event_type=kind)
    data = {"type": kind, **fields}
    try:
        event = model.model_validate(data)
    except ValidationError:
        event = model.model_construct(None, **data)
    if not isinstance(event, Event):
        raise TypeError(f"LiteLLM's class for {kind} is not a stream event: {type(event).__name__}")
    return event


def with_fields(event: Event, **changes: object) -> Event:
    """A copy of an event with some top-level fields changed (the original is never mutated)."""
    return event.model_copy(update=changes)
