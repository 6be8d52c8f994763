"""Blocks: the units a streamed response is made of (a run of text, one tool call)."""

from __future__ import annotations

from dataclasses import dataclass, field

from luthien_litellm_plugin.types import ToolCall, ToolCallType


@dataclass(eq=False)
class StreamBlock:
    """One block of a streamed response.

    `start_index` / `end_index` delimit, in `StreamState.raw_chunks`, the chunks that carried
    this block's deltas (end exclusive), so a policy can forward or drop exactly them.
    """

    id: str
    start_index: int
    end_index: int
    is_complete: bool = False


@dataclass(eq=False)
class ContentStreamBlock(StreamBlock):
    """A run of assistant text."""

    _parts: list[str] = field(default_factory=list)

    @property
    def content(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def append(self, text: str) -> None:
        self._parts.append(text)


@dataclass(eq=False)
class ToolCallStreamBlock(StreamBlock):
    """One tool call (function, custom or legacy `function_call`), assembled from its deltas."""

    name: str = ""
    index: int = 0
    """The upstream's `index` for this call."""
    type: ToolCallType = "function"
    _argument_parts: list[str] = field(default_factory=list)

    @property
    def arguments(self) -> str:
        if len(self._argument_parts) > 1:
            self._argument_parts[:] = ["".join(self._argument_parts)]
        return self._argument_parts[0] if self._argument_parts else ""

    def append_arguments(self, fragment: str) -> None:
        self._argument_parts.append(fragment)

    @property
    def tool_call(self) -> ToolCall:
        return ToolCall(id=self.id, name=self.name, arguments=self.arguments, type=self.type)
