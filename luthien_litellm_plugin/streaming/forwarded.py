"""Text no policy reads, passed from a wire's ingress to its egress without becoming a chunk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from litellm.types.utils import ModelResponseStream


@dataclass(slots=True, eq=False)
class ForwardedText:
    """A text delta no policy reads: the wire's own source event (what its egress sends, as it
    came) and the delta's text (what the recorder keeps).

    `chunk()` makes the chunk the ingress would have made of it, only when something asks (a
    policy reading the stream's state, `StreamState.raw_chunks`).
    """

    source: object
    text: str
    make_chunk: Callable[[ForwardedText], ModelResponseStream]
    _chunk: ModelResponseStream | None = field(default=None, repr=False)

    def chunk(self) -> ModelResponseStream:
        if self._chunk is None:
            self._chunk = self.make_chunk(self)
        return self._chunk


StreamItem = ModelResponseStream | ForwardedText
"""What an ingress hands the engine: a chunk, or a text delta left as its event."""
