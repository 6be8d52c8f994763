"""Text no policy reads, passed from a wire's ingress to its egress without becoming a chunk."""

from __future__ import annotations

from dataclasses import dataclass

from litellm.types.utils import ModelResponseStream


@dataclass(frozen=True, slots=True)
class ForwardedText:
    """A text delta no policy reads: the wire's own source event (what its egress sends, as it
    came) and the delta's text (what the recorder keeps)."""

    source: object
    text: str


StreamItem = ModelResponseStream | ForwardedText
"""What an ingress hands the engine: a chunk, or a text delta left as its event."""
