"""One request's journey through the engine: its observability, recorder and policy state."""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry.trace import Span

from luthien_litellm_plugin.observability.context import ObservabilityContext
from luthien_litellm_plugin.observability.transaction_recorder import TransactionRecorder
from luthien_litellm_plugin.types import RequestMessage


@dataclass(frozen=True)
class Origin:
    """Where a transaction came from, for the record (set by whoever opens it, e.g. the proxy)."""

    call_id: str | None = None
    """The caller's own id for the call (LiteLLM's `litellm_call_id`: client-settable, a reference only)."""
    api: str | None = None
    """The client-facing API (`chat`, `messages`, `responses`, …)."""


NO_ORIGIN = Origin()


@dataclass(eq=False)
class Transaction:
    """Created once per request (contexts are never created twice for one request)."""

    transaction_id: str
    span: Span
    observability: ObservabilityContext
    recorder: TransactionRecorder
    final_request: RequestMessage | None = None
    """The request as the policy returned it (what response hooks see as `context.request`)."""
    scratchpad: dict[str, object] = field(default_factory=dict)
    """Per-request policy state, shared by the request, streaming and non-streaming hooks."""
    owns_span: bool = False
    """End `span` when the transaction ends (the span was opened for it)."""
