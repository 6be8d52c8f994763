"""Blocks: the units a streamed response is made of (a run of text, one tool call)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from luthien_litellm_plugin.types import ToolCall, ToolCallType

Decision = Literal["undecided", "pass", "drop", "held"]
"""What happens to a block's upstream chunks: not decided yet (held back), forwarded, dropped,
or held until a deferred decision resolves."""


@dataclass(eq=False)
class StreamBlock:
    """One block of a streamed response.

    `parts` are the positions, in `StreamState.raw_chunks`, of the chunks that carried this
    block (in order; not always contiguous: parallel tool calls may interleave).
    """

    id: str
    parts: list[int] = field(default_factory=list)
    is_complete: bool = False
    decision: Decision = "undecided"

    @property
    def start_index(self) -> int:
        """Position of the block's first chunk."""
        return self.parts[0]

    @property
    def end_index(self) -> int:
        """One past the position of the block's last chunk."""
        return self.parts[-1] + 1


@dataclass(eq=False)
class ContentStreamBlock(StreamBlock):
    """A run of assistant text."""

    _parts_text: list[str] = field(default_factory=list)
    _last: str = ""

    @property
    def content(self) -> str:
        if len(self._parts_text) > 1:
            self._parts_text[:] = ["".join(self._parts_text)]
        return self._parts_text[0] if self._parts_text else ""

    @property
    def last_delta(self) -> str:
        """The text of the block's latest chunk."""
        return self._last

    def append(self, text: str) -> None:
        self._parts_text.append(text)
        self._last = text


@dataclass(eq=False)
class ToolCallStreamBlock(StreamBlock):
    """One tool call (function, custom or legacy `function_call`), assembled from its deltas."""

    name: str = ""
    index: int = 0
    """The upstream's `index` for this call (how its deltas are matched while it streams)."""
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
