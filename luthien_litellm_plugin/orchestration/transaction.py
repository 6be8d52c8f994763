"""One request's journey through the engine: its observability, recorder and policy state."""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry.trace import Span

from luthien_litellm_plugin.observability.context import ObservabilityContext
from luthien_litellm_plugin.observability.transaction_recorder import TransactionRecorder
from luthien_litellm_plugin.types import RequestMessage


@dataclass(eq=False)
class Transaction:
    """Created once per request (contexts are never created twice for one request)."""

    transaction_id: str
    span: Span
    observability: ObservabilityContext
    recorder: TransactionRecorder
    original_request: RequestMessage | None = None
    final_request: RequestMessage | None = None
    scratchpad: dict[str, object] = field(default_factory=dict)
    """Per-request policy state, shared by the request, streaming and non-streaming hooks."""
    owns_span: bool = False
    """End `span` when the transaction ends (the span was opened for it)."""
