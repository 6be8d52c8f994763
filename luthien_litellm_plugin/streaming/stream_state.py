"""What the assembler knows about a stream so far."""

from __future__ import annotations

from dataclasses import dataclass, field

from litellm.types.utils import ModelResponseStream, Usage

from luthien_litellm_plugin.streaming.stream_blocks import StreamBlock


@dataclass
class StreamState:
    """Blocks seen so far, the open block, and the chunk cursor used for passthrough.

    `raw_chunks[last_emission_index:]` are the chunks no policy decision has covered yet.
    """

    blocks: list[StreamBlock] = field(default_factory=list)
    current_block: StreamBlock | None = None
    just_completed: StreamBlock | None = None
    finish_reason: str | None = None
    raw_chunks: list[ModelResponseStream] = field(default_factory=list)
    last_emission_index: int = 0
    usage: Usage | None = None

    @property
    def undecided_end(self) -> int:
        """End of the chunks a passthrough may forward now: everything before the open block."""
        if self.current_block is not None:
            return self.current_block.start_index
        return len(self.raw_chunks)
