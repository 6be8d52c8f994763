"""Reading and building LiteLLM `ModelResponseStream` chunks. Chunks are never mutated here."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from litellm.types.utils import (
    ChatCompletionDeltaCustomToolCall,
    ChatCompletionDeltaCustomToolCallPayload,
    ChatCompletionDeltaToolCall,
    Delta,
    Function,
    FunctionCall,
    ModelResponseStream,
    StreamingChoices,
    Usage,
)
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from luthien_litellm_plugin.errors import UnsupportedStreamError
from luthien_litellm_plugin.types import ToolCall, ToolCallType

_MISSING = object()
M = TypeVar("M", bound=BaseModel)
D = TypeVar("D")
_set_attribute = object.__setattr__


def field_of(model: BaseModel, name: str) -> Any:
    """A field's value or None, read without pydantic's slow `__getattr__` fallback.

    LiteLLM keeps most delta fields (`content`, `tool_calls`, `role`) as pydantic extras and
    deletes unset optional ones, so plain attribute access costs a failed lookup plus an
    exception per miss. On the per-chunk path that dominated the profile.
    """
    value = model.__dict__.get(name, _MISSING)
    if value is _MISSING:
        extra = model.__pydantic_extra__
        return extra.get(name) if extra else None
    return value


def delta_of(choice: StreamingChoices) -> Delta:
    delta: Delta = field_of(choice, "delta")
    return delta


def finish_reason_of(choice: StreamingChoices) -> str | None:
    reason: str | None = field_of(choice, "finish_reason")
    return reason


def single_choice(chunk: ModelResponseStream) -> StreamingChoices | None:
    """The chunk's only choice, or None for a usage-only chunk. More than one: unsupported."""
    choices = chunk.choices
    if not choices:
        return None
    if len(choices) > 1 or field_of(choices[0], "index") != 0:
        raise UnsupportedStreamError("streams with more than one choice (n > 1) are not supported; send n=1")
    return choices[0]


def usage_of(chunk: ModelResponseStream) -> Usage | None:
    usage = field_of(chunk, "usage")
    return usage if isinstance(usage, Usage) else None


def content_of(delta: Delta) -> str | None:
    content: str | None = field_of(delta, "content")
    return content


def tool_calls_of(delta: Delta) -> list[ChatCompletionDeltaToolCall | ChatCompletionDeltaCustomToolCall] | None:
    calls: list[ChatCompletionDeltaToolCall | ChatCompletionDeltaCustomToolCall] | None = field_of(delta, "tool_calls")
    return calls


def function_call_of(delta: Delta) -> FunctionCall | None:
    """The legacy `function_call` delta (a client that sent `functions` gets these)."""
    call: FunctionCall | None = field_of(delta, "function_call")
    return call


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """One fragment of a tool call, whatever its wire shape (see `ToolCallType`)."""

    type: ToolCallType
    index: int
    id: str | None
    name: str | None
    fragment: str
    """More of the arguments (`function`, `function_call`) or of the input text (`custom`)."""


def tool_call_deltas_of(delta: Delta) -> list[ToolCallDelta]:
    """Every tool-call fragment the delta carries: function and custom `tool_calls`, legacy `function_call`."""
    found: list[ToolCallDelta] = []
    for call in tool_calls_of(delta) or ():
        if isinstance(call, ChatCompletionDeltaToolCall):
            function = call.function
            found.append(ToolCallDelta("function", call.index, call.id, function.name, function.arguments or ""))
        else:
            custom = call.custom
            found.append(ToolCallDelta("custom", call.index, call.id, custom.name, custom.input or ""))
    legacy = function_call_of(delta)
    if legacy is not None:
        found.append(ToolCallDelta("function_call", 0, None, legacy.name, legacy.arguments or ""))
    return found


def delta_text(chunk: ModelResponseStream) -> str:
    """The text an upstream delta's chunk carries now, else its first tool-call fragment ("" if
    neither): what an egress compares with the upstream's event, to serve a hook's in-place edit."""
    if not chunk.choices:
        return ""
    delta = delta_of(chunk.choices[0])
    text = content_of(delta)
    if text:
        return text
    calls = tool_call_deltas_of(delta)
    return calls[0].fragment if calls else ""


_PAYLOAD_FIELDS = ("content", "tool_calls", "reasoning_content", "thinking_blocks", "function_call", "audio")


def has_payload(delta: Delta) -> bool:
    """True when the delta carries something a client would show: text, tool calls, reasoning."""
    return any(field_of(delta, name) for name in _PAYLOAD_FIELDS)


def _parts(choice: StreamingChoices) -> int:
    delta = delta_of(choice)
    calls = tool_calls_of(delta)
    count = len(calls) if calls else 0
    if content_of(delta):
        count += 1
    if function_call_of(delta) is not None:
        count += 1
    if finish_reason_of(choice) is not None and count:
        count += 1
    return count


def split_chunk(chunk: ModelResponseStream) -> list[ModelResponseStream]:
    """Split a chunk so each part carries at most one of: text, one tool-call delta (a `tool_calls`
    entry or the legacy `function_call`), finish.

    The common chunk already does and is returned as is (no copy). Role and other metadata stay
    on the first part; `finish_reason` and usage go on a last part of their own.
    """
    choice = single_choice(chunk)
    if choice is None or _parts(choice) <= 1:
        return [chunk]
    delta = delta_of(choice)
    parts: list[ModelResponseStream] = []
    legacy = function_call_of(delta)
    if content_of(delta):
        parts.append(_with_delta(chunk, choice, delta.model_copy(update={"tool_calls": None, "function_call": None})))
    for tool_call in tool_calls_of(delta) or []:
        parts.append(_call_part(chunk, choice, {"tool_calls": [tool_call]}, first=not parts))
    if legacy is not None:
        parts.append(_call_part(chunk, choice, {"function_call": legacy}, first=not parts))
    if finish_reason_of(choice) is not None:
        parts.append(
            chunk.model_copy(
                update={
                    "choices": [choice.model_copy(update={"delta": Delta(), "finish_reason": finish_reason_of(choice)})]
                }
            )
        )
        parts[:-1] = [strip_usage(part) for part in parts[:-1]]
    return parts


def _call_part(
    chunk: ModelResponseStream, choice: StreamingChoices, call: dict[str, object], *, first: bool
) -> ModelResponseStream:
    """The chunk carrying only `call` (one `tool_calls` entry or the `function_call`); role on the first part only."""
    update: dict[str, object] = {"content": None, "tool_calls": None, "function_call": None, **call}
    if not first:
        update["role"] = None
    return _with_delta(chunk, choice, delta_of(choice).model_copy(update=update))


def _with_delta(chunk: ModelResponseStream, choice: StreamingChoices, delta: Delta) -> ModelResponseStream:
    return chunk.model_copy(update={"choices": [choice.model_copy(update={"delta": delta, "finish_reason": None})]})


def strip_usage(chunk: ModelResponseStream) -> ModelResponseStream:
    if usage_of(chunk) is None:
        return chunk
    copy = chunk.model_copy()
    del copy.usage
    return copy


def separate_finish(
    chunk: ModelResponseStream, choice: StreamingChoices
) -> tuple[ModelResponseStream, ModelResponseStream]:
    """(the chunk without `finish_reason` or usage, a finish-only chunk keeping the usage)."""
    payload = strip_usage(chunk.model_copy(update={"choices": [choice.model_copy(update={"finish_reason": None})]}))
    finish = chunk.model_copy(update={"choices": [choice.model_copy(update={"delta": Delta()})]})
    return payload, finish


def copied(model: M, **changes: object) -> M:
    """What `model.model_copy(update=changes)` returns, at a fraction of its cost.

    A shallow copy: the field values are shared, the containers holding them are new. Names that
    are not fields go to the extras when the model allows them (LiteLLM keeps a delta's `content`
    there). This is pydantic's own `__copy__` and `model_copy` without their generic overhead;
    on `/v1/messages` and `/v1/responses` it runs three times per text delta.
    """
    cls = type(model)
    new = cls.__new__(cls)
    values = model.__dict__.copy()
    extra = model.__pydantic_extra__
    extra = None if extra is None else extra.copy()
    if changes:
        fields = cls.__pydantic_fields__
        allow_extra = cls.model_config.get("extra") == "allow"
        for name, value in changes.items():
            if allow_extra and name not in fields:
                extra = {} if extra is None else extra
                extra[name] = value
            else:
                values[name] = value
    private = model.__pydantic_private__
    if private is not None:
        private = {name: value for name, value in private.items() if value is not PydanticUndefined}
    _set_attribute(new, "__dict__", values)
    _set_attribute(new, "__pydantic_extra__", extra)
    _set_attribute(new, "__pydantic_fields_set__", model.__pydantic_fields_set__ | changes.keys())
    _set_attribute(new, "__pydantic_private__", private)
    return new


def with_delta(chunk: ModelResponseStream, choice: StreamingChoices, **changes: object) -> ModelResponseStream:
    """A copy of the chunk whose delta has `changes` applied."""
    delta = copied(delta_of(choice), **changes)
    return copied(chunk, choices=[copied(choice, delta=delta)])


def with_text(template: ModelResponseStream, text: str) -> ModelResponseStream:
    """A copy of a text-delta chunk carrying `text` instead (and hidden params of its own).

    LiteLLM's stream parsers build every text-delta chunk of a stream alike (same stream-scoped
    id, model and service tier), so the ingresses copy the stream's first one: a fraction of a parse.
    """
    chunk = with_delta(template, template.choices[0], content=text)
    chunk._hidden_params = {}  # not shared with the template
    return chunk


class ChunkTemplate(Generic[D]):
    """Chunks a stream parser builds alike (text deltas; events it makes empty chunks of): the
    stream's first is parsed, the others are copies of it with their own text (`with_text`)."""

    def __init__(self, parse: Callable[[D], ModelResponseStream]) -> None:
        self._parse = parse
        self._first: ModelResponseStream | None = None

    def chunk(self, data: D, text: str) -> ModelResponseStream:
        if self._first is None:
            self._first = self._parse(data)
            return self._first
        return with_text(self._first, text)


def _new_chunk(delta: Delta, like: ModelResponseStream | None, finish_reason: str | None = None) -> ModelResponseStream:
    return ModelResponseStream(
        id=like.id if like is not None else f"chatcmpl-{uuid.uuid4().hex}",
        created=like.created if like is not None else int(time.time()),
        model=like.model if like is not None else None,
        choices=[StreamingChoices(index=0, delta=delta, finish_reason=finish_reason)],
    )


def create_text_chunk(text: str, like: ModelResponseStream | None = None) -> ModelResponseStream:
    """A chunk carrying `text` as a content delta (id, created and model copied from `like`)."""
    return _new_chunk(Delta(content=text), like)


def create_tool_call_chunk(
    tool_call: ToolCall, index: int = 0, like: ModelResponseStream | None = None
) -> ModelResponseStream:
    """A chunk carrying a whole tool call (id, name and arguments) as one delta, in its wire shape."""
    if tool_call.type == "function_call":
        legacy = FunctionCall(name=tool_call.name, arguments=tool_call.arguments)
        return _new_chunk(Delta(content=None, function_call=legacy), like)
    delta_call: ChatCompletionDeltaToolCall | ChatCompletionDeltaCustomToolCall
    if tool_call.type == "custom":
        payload = ChatCompletionDeltaCustomToolCallPayload(name=tool_call.name, input=tool_call.arguments)
        delta_call = ChatCompletionDeltaCustomToolCall(id=tool_call.id, type="custom", index=index, custom=payload)
    else:
        function = Function(name=tool_call.name, arguments=tool_call.arguments)
        delta_call = ChatCompletionDeltaToolCall(id=tool_call.id, type="function", index=index, function=function)
    return _new_chunk(Delta(content=None, tool_calls=[delta_call]), like)


def create_finish_chunk(finish_reason: str, like: ModelResponseStream | None = None) -> ModelResponseStream:
    return _new_chunk(Delta(), like, finish_reason=finish_reason)
