"""The policy interface: full control over the request and over every streamed chunk."""

from __future__ import annotations

from abc import ABC
from typing import NoReturn

from litellm.types.utils import ModelResponse
from opentelemetry.trace import Span

from luthien_litellm_plugin.errors import PolicyBlockedError
from luthien_litellm_plugin.observability.context import NoOpObservabilityContext, ObservabilityContext
from luthien_litellm_plugin.streaming.streaming_response_context import StreamingResponseContext
from luthien_litellm_plugin.types import RequestMessage


class PolicyContext:
    """Context for request and non-streaming hooks."""

    def __init__(
        self,
        call_id: str,
        span: Span,
        request: RequestMessage,
        *,
        scratchpad: dict[str, object] | None = None,
        observability: ObservabilityContext | None = None,
    ) -> None:
        self.call_id = call_id
        """The transaction id."""
        self.span = span
        self.request = request
        self.scratchpad: dict[str, object] = scratchpad if scratchpad is not None else {}
        """Per-request policy state, shared with the streaming hooks of the same request."""
        self.observability = observability or NoOpObservabilityContext(call_id)


class Policy(ABC):
    """Base policy. Every hook has a default; override the ones you need.

    One instance serves many concurrent requests: keep per-request state in the context's
    `scratchpad`, never on `self`. Raise `PolicyBlockedError` (or call `self.block(reason)`) to
    refuse; any other exception fails the request closed.

    Streaming hooks run in this order for each chunk: `on_chunk_received`; then
    `on_content_delta` / `on_tool_call_delta` for the open block; then `on_content_complete` /
    `on_tool_call_complete` for a block that just completed; then `on_finish_reason` on the chunk
    that carries it. `on_stream_complete` runs once after the last chunk. Nothing reaches the
    client unless a hook emits it (see `luthien_litellm_plugin.streaming.helpers`).
    """

    _configured_name: str | None = None

    @property
    def name(self) -> str:
        """Name used in errors and records (the YAML policy name when loaded from config)."""
        return self._configured_name or type(self).__name__

    def named(self, name: str) -> Policy:
        """Give this policy the name it is configured under; returns self."""
        self._configured_name = name
        return self

    def block(self, reason: str) -> NoReturn:
        """Refuse the request or response, naming this policy."""
        raise PolicyBlockedError(self.name, reason)

    async def on_request(self, request: RequestMessage, context: PolicyContext) -> RequestMessage:
        """Process request before sending to LLM."""
        return request

    async def on_chunk_received(self, ctx: StreamingResponseContext) -> None:
        """Called on every chunk."""

    async def on_content_delta(self, ctx: StreamingResponseContext) -> None:
        """Called when content delta received."""

    async def on_content_complete(self, ctx: StreamingResponseContext) -> None:
        """Called when content block completes."""

    async def on_tool_call_delta(self, ctx: StreamingResponseContext) -> None:
        """Called when tool call delta received."""

    async def on_tool_call_complete(self, ctx: StreamingResponseContext) -> None:
        """Called when tool call block completes."""

    async def on_finish_reason(self, ctx: StreamingResponseContext) -> None:
        """Called when finish_reason received."""

    async def on_stream_complete(self, ctx: StreamingResponseContext) -> None:
        """Called when stream completes."""

    async def process_full_response(self, response: ModelResponse, context: PolicyContext) -> ModelResponse:
        """Process non-streaming response."""
        return response
