"""Reading and building LiteLLM `ModelResponseStream` chunks. Chunks are never mutated here."""

from __future__ import annotations

import time
import uuid

from litellm.types.utils import (
    ChatCompletionDeltaToolCall,
    Delta,
    Function,
    ModelResponseStream,
    StreamingChoices,
    Usage,
)

from luthien_litellm_plugin.errors import UnsupportedStreamError
from luthien_litellm_plugin.types import ToolCall


def single_choice(chunk: ModelResponseStream) -> StreamingChoices | None:
    """The chunk's only choice, or None for a usage-only chunk. More than one: unsupported."""
    choices = chunk.choices
    if not choices:
        return None
    if len(choices) > 1 or choices[0].index != 0:
        raise UnsupportedStreamError("streams with more than one choice (n > 1) are not supported; send n=1")
    return choices[0]


def usage_of(chunk: ModelResponseStream) -> Usage | None:
    usage = getattr(chunk, "usage", None)
    return usage if isinstance(usage, Usage) else None


def has_payload(delta: Delta) -> bool:
    """True when the delta carries something a client would show: text, tool calls, reasoning."""
    return bool(
        delta.content
        or delta.tool_calls
        or delta.function_call
        or getattr(delta, "reasoning_content", None)
        or getattr(delta, "thinking_blocks", None)
        or delta.audio
    )


def _parts(choice: StreamingChoices) -> int:
    delta = choice.delta
    count = len(delta.tool_calls) if delta.tool_calls else 0
    if delta.content:
        count += 1
    if choice.finish_reason is not None and count:
        count += 1
    return count


def split_chunk(chunk: ModelResponseStream) -> list[ModelResponseStream]:
    """Split a chunk so each part carries at most one of: text, one tool-call delta, finish.

    The common chunk already does and is returned as is (no copy). Role and other metadata stay
    on the first part; `finish_reason` and usage go on a last part of their own.
    """
    choice = single_choice(chunk)
    if choice is None or _parts(choice) <= 1:
        return [chunk]
    delta = choice.delta
    parts: list[ModelResponseStream] = []
    if delta.content:
        parts.append(_with_delta(chunk, choice, delta.model_copy(update={"tool_calls": None})))
    for tool_call in delta.tool_calls or []:
        update = {"content": None, "tool_calls": [tool_call]}
        if parts:
            update["role"] = None
        parts.append(_with_delta(chunk, choice, delta.model_copy(update=update)))
    if choice.finish_reason is not None:
        parts.append(
            chunk.model_copy(
                update={
                    "choices": [choice.model_copy(update={"delta": Delta(), "finish_reason": choice.finish_reason})]
                }
            )
        )
        parts[:-1] = [strip_usage(part) for part in parts[:-1]]
    return parts


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


def with_delta(chunk: ModelResponseStream, choice: StreamingChoices, **changes: object) -> ModelResponseStream:
    """A copy of the chunk whose delta has `changes` applied."""
    delta = choice.delta.model_copy(update=changes)
    return chunk.model_copy(update={"choices": [choice.model_copy(update={"delta": delta})]})


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
    """A chunk carrying a whole tool call (id, name and arguments) as one delta."""
    delta_call = ChatCompletionDeltaToolCall(
        id=tool_call.id,
        type="function",
        index=index,
        function=Function(name=tool_call.name, arguments=tool_call.arguments),
    )
    return _new_chunk(Delta(content=None, tool_calls=[delta_call]), like)


def create_finish_chunk(finish_reason: str, like: ModelResponseStream | None = None) -> ModelResponseStream:
    return _new_chunk(Delta(), like, finish_reason=finish_reason)
