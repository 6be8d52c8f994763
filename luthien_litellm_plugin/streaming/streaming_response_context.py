"""What a policy hook receives while a response streams."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from luthien_litellm_plugin.observability.context import ObservabilityContext
from luthien_litellm_plugin.streaming.egress import Egress
from luthien_litellm_plugin.streaming.stream_state import StreamState
from luthien_litellm_plugin.types import RequestMessage

if TYPE_CHECKING:
    from litellm.types.utils import ModelResponseStream

    from luthien_litellm_plugin.streaming.streaming_chunk_assembler import StreamingChunkAssembler


def _no_keepalive() -> None:
    return None


@dataclass
class StreamingResponseContext:
    """Per-request context for streaming hooks.

    `scratchpad` is the place for per-request policy state (policies are shared by concurrent
    requests; never keep request state on the policy object). `keepalive()` tells the idle
    timeout the policy is still working (e.g. waiting on a slow check).
    """

    transaction_id: str
    final_request: RequestMessage
    ingress_assembler: StreamingChunkAssembler[StreamingResponseContext] | None
    egress_queue: Egress
    scratchpad: dict[str, object]
    observability: ObservabilityContext
    keepalive: Callable[[], None] = field(default=_no_keepalive)
    policy_name: str = ""

    @property
    def ingress_state(self) -> StreamState:
        """Current ingress state."""
        if self.ingress_assembler is None:
            raise RuntimeError("ingress_assembler not yet initialized")
        return self.ingress_assembler.state

    @property
    def last_ingress_chunk(self) -> ModelResponseStream | None:
        chunks = self.ingress_state.raw_chunks
        return chunks[-1] if chunks else None
