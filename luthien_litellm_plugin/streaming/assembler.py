"""Turns a stream of chunks into blocks (text runs, tool calls)."""

from __future__ import annotations

from luthien_litellm_plugin.chunks import (
    ToolCallDelta,
    content_of,
    delta_of,
    finish_reason_of,
    single_choice,
    tool_call_deltas_of,
    usage_of,
)
from luthien_litellm_plugin.errors import UnsupportedStreamError
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock, StreamBlock, ToolCallStreamBlock
from luthien_litellm_plugin.streaming.forwarded import ForwardedText, StreamItem
from luthien_litellm_plugin.streaming.state import StreamState


class StreamingChunkAssembler:
    """Adds chunks (each carrying at most one block's delta, see `split_chunk`) to a `StreamState`.

    Tool calls (function, custom, legacy `function_call`) are matched by their shape and the
    upstream's `index` while they stream, so the deltas of
    parallel calls may interleave. A text block completes when a tool call starts; tool calls
    complete together at `finish_reason` (or the end of the stream), since until then a later
    delta may still belong to any of them. A delta for a tool call that already completed is a
    stream the engine refuses (its decision was taken on incomplete arguments).
    """

    def __init__(self, *, owns_content: bool = True, owns_tool_calls: bool = True) -> None:
        self.state = StreamState()
        self._owns_content = owns_content
        self._owns_tool_calls = owns_tool_calls
        self._open_text: ContentStreamBlock | None = None
        self._open_tools: dict[tuple[str, int], ToolCallStreamBlock] = {}
        self._closed_tools: set[tuple[str, int]] = set()

    def add(self, chunk: StreamItem) -> list[StreamBlock]:
        """Add one chunk; returns the blocks it completed (in the order they started).

        A block of a kind the policy does not own is decided `pass` when it starts (its chunks
        are forwarded as they arrive); the policy decides the others. A `ForwardedText` is a
        text delta (its policy reads no text).
        """
        if isinstance(chunk, ForwardedText):
            return self._add_text(chunk)
        state = self.state
        position = len(state.items)
        state.items.append(chunk)
        usage = usage_of(chunk)
        if usage is not None:
            state.usage = usage
        choice = single_choice(chunk)
        owner: StreamBlock | None = None
        completed: list[StreamBlock] = []
        if choice is not None:
            delta = delta_of(choice)
            content = content_of(delta)
            calls = tool_call_deltas_of(delta) if not content else None
            if content:
                owner = self._text_block(completed)
                owner.append(content)
            elif calls:
                owner = self._tool_call_block(calls[0], completed)
            finish_reason = finish_reason_of(choice)
            if finish_reason is not None:
                state.finish_reason = finish_reason
                completed.extend(self.close())
        if owner is not None:
            owner.parts.append(position)
        state.owners.append(owner)
        state.current_block = owner
        return completed

    def _add_text(self, delta: ForwardedText) -> list[StreamBlock]:
        state = self.state
        position = len(state.items)
        state.items.append(delta)
        completed: list[StreamBlock] = []
        owner: StreamBlock | None = None
        if delta.text:
            owner = self._text_block(completed)
            owner.append(delta.text)
            owner.parts.append(position)
        state.owners.append(owner)
        state.current_block = owner
        return completed

    def close(self) -> list[StreamBlock]:
        """Complete every open block (the stream ended, or reached `finish_reason`)."""
        completed: list[StreamBlock] = []
        self._complete_text(completed)
        completed.extend(self._open_tools.values())
        self._closed_tools.update(self._open_tools)
        self._open_tools.clear()
        for block in completed:
            block.is_complete = True
        return completed

    def _text_block(self, completed: list[StreamBlock]) -> ContentStreamBlock:
        if self._open_text is None:
            if self._open_tools:  # text after tool calls: they will get no more deltas
                completed.extend(self.close())
            self._open_text = ContentStreamBlock(id=f"content-{len(self.state.blocks)}")
            self._start(self._open_text, self._owns_content)
        return self._open_text

    def _tool_call_block(self, delta: ToolCallDelta, completed: list[StreamBlock]) -> ToolCallStreamBlock:
        key = (delta.type, delta.index)
        block = self._open_tools.get(key)
        if block is None:
            if key in self._closed_tools:
                raise UnsupportedStreamError(f"a delta for tool call {delta.index} arrived after it completed")
            self._complete_text(completed)
            block = ToolCallStreamBlock(id=delta.id or "", index=delta.index, type=delta.type)
            self._open_tools[key] = block
            self._start(block, self._owns_tool_calls)
        if delta.name and not block.name:
            block.name = delta.name
        if delta.id and not block.id:
            block.id = delta.id
        if delta.fragment:
            block.append_arguments(delta.fragment)
        return block

    def _complete_text(self, completed: list[StreamBlock]) -> None:
        if self._open_text is not None:
            self._open_text.is_complete = True
            completed.append(self._open_text)
            self._open_text = None

    def _start(self, block: StreamBlock, owned: bool) -> None:
        if not owned:
            block.decision = "pass"
        self.state.blocks.append(block)
