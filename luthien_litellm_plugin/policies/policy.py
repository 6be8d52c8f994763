"""The policy interface: full control over the request and over every streamed chunk."""

from __future__ import annotations

from abc import ABC
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from litellm.types.utils import ModelResponse
from opentelemetry.trace import Span

from luthien_litellm_plugin.errors import LuthienError, PolicyBlockedError, PolicyError
from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.observability.context import NoOpObservabilityContext, ObservabilityContext
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock, ToolCallStreamBlock
from luthien_litellm_plugin.streaming.context import StreamingResponseContext, require_llm
from luthien_litellm_plugin.types import RequestMessage

T = TypeVar("T")


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
        llm: LLMClient | None = None,
    ) -> None:
        self.call_id = call_id
        """The transaction id."""
        self.span = span
        self.request = request
        self.scratchpad: dict[str, object] = scratchpad if scratchpad is not None else {}
        """Per-request policy state, shared with the streaming hooks of the same request."""
        self.observability = observability or NoOpObservabilityContext(call_id)
        self._llm = llm

    @property
    def transaction_id(self) -> str:
        return self.call_id

    @property
    def llm(self) -> LLMClient:
        """The client for the policy's own model calls (e.g. a judge): in the proxy, LiteLLM's
        router over the proxy's own model groups; as a library, the orchestrator's client."""
        return require_llm(self._llm)

    def for_member(self, index: int, request: RequestMessage) -> PolicyContext:
        """The context of a chain's `index`th policy: its own scratchpad, the request as the
        policies before it left it."""
        return PolicyContext(
            self.call_id,
            self.span,
            request,
            scratchpad=member_scratchpad(self.scratchpad, index),
            observability=self.observability,
            llm=self._llm,
        )


def member_scratchpad(scratchpad: dict[str, object], index: int) -> dict[str, object]:
    """The part of a transaction's scratchpad that belongs to a chain's `index`th policy."""
    key = f"luthien.chain.{index}"
    found = scratchpad.get(key)
    if not isinstance(found, dict):
        found = scratchpad[key] = {}
    return found


@dataclass(frozen=True)
class StreamHooks:
    """Which streaming hooks a policy implements. The engine calls only these, and passes
    through, as they stream, the kinds of blocks no hook of the policy decides."""

    chunk_received: bool = False
    content_delta: bool = False
    content_complete: bool = False
    tool_call_delta: bool = False
    tool_call_complete: bool = False
    finish_reason: bool = False
    stream_complete: bool = False

    @property
    def owns_content(self) -> bool:
        return self.content_delta or self.content_complete

    @property
    def owns_tool_calls(self) -> bool:
        return self.tool_call_delta or self.tool_call_complete

    @property
    def reads_text(self) -> bool:
        """A hook sees text deltas: the content hooks, or `on_chunk_received` (every chunk)."""
        return self.owns_content or self.chunk_received

    @property
    def none(self) -> bool:
        """Nothing to call: the stream passes through untouched."""
        return self == _NO_HOOKS


_NO_HOOKS = StreamHooks()


class Policy(ABC):
    """Base policy. Every hook has a default that changes nothing; override the ones you need.

    One instance serves many concurrent requests: keep per-request state in the context's
    `scratchpad`, never on `self`. Raise `PolicyBlockedError` (or call `self.block(reason)`) to
    refuse; any other exception fails the request closed.

    Streaming: text passes through as it arrives unless the policy overrides
    `on_content_delta` or `on_content_complete`; then the policy decides each text block, and
    the block's chunks are held until it does. Likewise for tool calls with `on_tool_call_delta`
    / `on_tool_call_complete`. A block the completion hook neither dropped nor held is
    forwarded (see `luthien_litellm_plugin.streaming.helpers`). For each chunk the hooks run in
    this order: `on_chunk_received`; the completion hook of each block the chunk completed; the
    delta hook of the block the chunk belongs to; `on_finish_reason` on the chunk that carries
    it. `on_stream_complete` runs once, after the last chunk.
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

    def stream_hooks(self) -> StreamHooks:
        """The streaming hooks this policy implements (by default: those its class overrides)."""
        return _overridden_hooks(type(self))

    def has_request_hook(self) -> bool:
        """Whether `on_request` may change the request: its class, or this instance, overrides it.
        Without one, the engine does not dump the request again after the call."""
        return overrides(self, "on_request", Policy)

    def model_groups(self) -> dict[str, str]:
        """The model groups this policy calls itself (e.g. a judge), by the option naming each.
        The proxy refuses to start when one is not in its `model_list`."""
        return {}

    async def on_request(self, request: RequestMessage, context: PolicyContext) -> RequestMessage:
        """Process request before sending to LLM."""
        return request

    async def on_chunk_received(self, ctx: StreamingResponseContext) -> None:
        """Called on every chunk (observe only: the block hooks decide what is sent)."""

    async def on_content_delta(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
        """Called when text arrives (`block.last_delta`) for a block this policy decides."""

    async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
        """Called when a text block completes: forward it (the default), drop or replace it."""

    async def on_tool_call_delta(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
        """Called when a delta arrives for a tool call this policy decides."""

    async def on_tool_call_complete(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
        """Called when a tool call is complete: forward it (the default), drop or replace it."""

    async def on_finish_reason(self, ctx: StreamingResponseContext) -> None:
        """Called when finish_reason received (`ctx.ingress_state.finish_reason`)."""

    async def on_stream_complete(self, ctx: StreamingResponseContext) -> None:
        """Called when stream completes."""

    async def process_full_response(self, response: ModelResponse, context: PolicyContext) -> ModelResponse:
        """Process non-streaming response."""
        return response


_HOOK_NAMES = {
    "chunk_received": "on_chunk_received",
    "content_delta": "on_content_delta",
    "content_complete": "on_content_complete",
    "tool_call_delta": "on_tool_call_delta",
    "tool_call_complete": "on_tool_call_complete",
    "finish_reason": "on_finish_reason",
    "stream_complete": "on_stream_complete",
}


def overrides(policy: Policy, name: str, base: type[Policy]) -> bool:
    """Whether `policy` has its own `name`, other than `base`'s (on its class, or set on the instance)."""
    return name in vars(policy) or getattr(type(policy), name) is not getattr(base, name)


def _overridden_hooks(policy_class: type[Policy]) -> StreamHooks:
    found = {field: getattr(policy_class, name) is not getattr(Policy, name) for field, name in _HOOK_NAMES.items()}
    return StreamHooks(**found)


async def fail_closed(policy: Policy, call: Awaitable[T]) -> T:
    """Run a policy's code: an unexpected exception becomes a `PolicyError` naming the policy (the
    request or response then fails closed, never passes unchecked)."""
    try:
        return await call
    except LuthienError:
        raise
    except Exception as error:
        raise PolicyError(policy.name, error) from error
