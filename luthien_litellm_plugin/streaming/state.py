"""What the assembler knows about a stream so far."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import overload

from litellm.types.utils import ModelResponseStream, Usage

from luthien_litellm_plugin.streaming.blocks import StreamBlock
from luthien_litellm_plugin.streaming.forwarded import ForwardedText, StreamItem


@dataclass
class StreamState:
    """The upstream chunks received so far, the blocks they make up, finish reason and usage.

    `items` are what arrived, in order: the upstream chunks (split so each carries at most one
    block's delta) and, for a policy that reads no text, text deltas left as their events
    (`ForwardedText`). `raw_chunks` shows them all as chunks. `owners[i]` is the block item `i`
    belongs to (None for role, finish and usage chunks). `last_emission_index` is the release
    cursor: every item before it was sent or dropped.
    """

    blocks: list[StreamBlock] = field(default_factory=list)
    current_block: StreamBlock | None = None
    """The block the latest chunk belongs to (None if it belongs to none)."""
    just_completed: StreamBlock | None = None
    """The block whose completion hook is running."""
    finish_reason: str | None = None
    items: list[StreamItem] = field(default_factory=list)
    owners: list[StreamBlock | None] = field(default_factory=list)
    last_emission_index: int = 0
    usage: Usage | None = None

    @property
    def raw_chunks(self) -> Sequence[ModelResponseStream]:
        """The upstream chunks so far (a forwarded text delta is made into its chunk when read)."""
        return _AsChunks(self.items)


class _AsChunks(Sequence[ModelResponseStream]):
    """A read-only view of stream items as chunks."""

    __slots__ = ("_items",)

    def __init__(self, items: list[StreamItem]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> ModelResponseStream: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ModelResponseStream]: ...

    def __getitem__(self, index: int | slice) -> ModelResponseStream | Sequence[ModelResponseStream]:
        if isinstance(index, slice):
            return [_as_chunk(item) for item in self._items[index]]
        return _as_chunk(self._items[index])


def _as_chunk(item: StreamItem) -> ModelResponseStream:
    return item.chunk() if isinstance(item, ForwardedText) else item
