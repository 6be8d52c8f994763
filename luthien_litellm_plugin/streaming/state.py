"""What the assembler knows about a stream so far."""

from __future__ import annotations

from dataclasses import dataclass, field

from litellm.types.utils import ModelResponseStream, Usage

from luthien_litellm_plugin.streaming.blocks import StreamBlock


@dataclass
class StreamState:
    """The upstream chunks received so far, the blocks they make up, finish reason and usage.

    `raw_chunks` are the upstream chunks (split so each carries at most one block's delta);
    `owners[i]` is the block chunk `i` belongs to (None for role, finish and usage chunks).
    `last_emission_index` is the release cursor: every chunk before it was sent or dropped.
    """

    blocks: list[StreamBlock] = field(default_factory=list)
    current_block: StreamBlock | None = None
    """The block the latest chunk belongs to (None if it belongs to none)."""
    just_completed: StreamBlock | None = None
    """The block whose completion hook is running."""
    finish_reason: str | None = None
    raw_chunks: list[ModelResponseStream] = field(default_factory=list)
    owners: list[StreamBlock | None] = field(default_factory=list)
    last_emission_index: int = 0
    usage: Usage | None = None
