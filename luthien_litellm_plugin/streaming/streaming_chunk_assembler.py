"""Turns a stream of chunks into blocks (text runs, tool calls) and calls back on each chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.streaming.chunks import (
    ToolCallDelta,
    content_of,
    delta_of,
    finish_reason_of,
    single_choice,
    split_chunk,
    tool_call_deltas_of,
    usage_of,
)
from luthien_litellm_plugin.streaming.stream_blocks import (
    ContentStreamBlock,
    StreamBlock,
    ToolCallStreamBlock,
)
from luthien_litellm_plugin.streaming.stream_state import StreamState

C = TypeVar("C")
ChunkCallback = Callable[[ModelResponseStream, StreamState, C], Awaitable[None]]


class StreamingChunkAssembler(Generic[C]):
    """Feeds chunks into a `StreamState` and calls `on_chunk_callback(chunk, state, context)`.

    A block completes when the next block starts or `finish_reason` arrives; during that
    callback it is `state.just_completed`. Chunks carrying several things at once (text and a
    tool call, two tool calls, text and `finish_reason`) are first split so that each chunk the
    callback sees belongs to at most one block. The input is read to its end: chunks after
    `finish_reason` (usage) are processed like any other.
    """

    def __init__(self, on_chunk_callback: ChunkCallback[C]) -> None:
        self.state = StreamState()
        self.on_chunk = on_chunk_callback

    async def process(self, incoming: AsyncIterator[ModelResponseStream], context: C) -> None:
        async for chunk in incoming:
            await self.feed(chunk, context)

    async def feed(self, chunk: ModelResponseStream, context: C) -> None:
        """Process one upstream chunk (split into parts if it carries several things)."""
        for part in split_chunk(chunk):
            state = self.state
            state.raw_chunks.append(part)
            self._update_state(part)
            await self.on_chunk(part, state, context)
            state.just_completed = None

    def close_open_block(self) -> StreamBlock | None:
        """Complete the block left open by a stream that ended without `finish_reason`."""
        block = self.state.current_block
        if block is not None:
            self._complete_current()
        return block

    def _update_state(self, chunk: ModelResponseStream) -> None:
        usage = usage_of(chunk)
        if usage is not None:
            self.state.usage = usage
        choice = single_choice(chunk)
        if choice is None:
            return
        delta = delta_of(choice)
        content = content_of(delta)
        if content:
            self._content_block().append(content)
        else:
            calls = tool_call_deltas_of(delta)
            if calls:
                self._add_tool_call_delta(calls[0])
        if finish_reason_of(choice) is not None:
            self._complete_current()
            self.state.finish_reason = finish_reason_of(choice)

    def _content_block(self) -> ContentStreamBlock:
        current = self.state.current_block
        position = len(self.state.raw_chunks) - 1
        if not isinstance(current, ContentStreamBlock):
            current = ContentStreamBlock(
                id=f"content-{len(self.state.blocks)}", start_index=position, end_index=position
            )
            self._start(current)
        current.end_index = position + 1
        return current

    def _add_tool_call_delta(self, delta: ToolCallDelta) -> None:
        block = self._tool_call_block(delta)
        block.end_index = len(self.state.raw_chunks)
        if delta.name and not block.name:
            block.name = delta.name
        if delta.fragment:
            block.append_arguments(delta.fragment)

    def _tool_call_block(self, delta: ToolCallDelta) -> ToolCallStreamBlock:
        current = self.state.current_block
        if (
            isinstance(current, ToolCallStreamBlock)
            and current.type == delta.type
            and (delta.id == current.id if delta.id is not None else delta.index == current.index)
        ):
            return current
        position = len(self.state.raw_chunks) - 1
        block = ToolCallStreamBlock(
            id=delta.id or ("" if delta.type == "function_call" else f"call_{len(self.state.blocks)}"),
            start_index=position,
            end_index=position,
            index=delta.index,
            type=delta.type,
        )
        self._start(block)
        return block

    def _start(self, block: StreamBlock) -> None:
        self._complete_current()
        self.state.blocks.append(block)
        self.state.current_block = block

    def _complete_current(self) -> None:
        current = self.state.current_block
        if current is None:
            return
        current.is_complete = True
        self.state.just_completed = current
        self.state.current_block = None
