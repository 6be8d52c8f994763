"""What a policy hook receives while a response streams."""

from __future__ import annotations

from collections.abc import Callable

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.observability.context import ObservabilityContext
from luthien_litellm_plugin.streaming.holds import Holds
from luthien_litellm_plugin.streaming.release import Release
from luthien_litellm_plugin.streaming.state import StreamState
from luthien_litellm_plugin.types import RequestMessage


def _no_keepalive() -> None:
    return None


def require_llm(llm: LLMClient | None) -> LLMClient:
    if llm is None:
        raise RuntimeError("no LLM client for policy model calls: give the orchestrator one (llm_client)")
    return llm


class StreamingResponseContext:
    """Per-request context for streaming hooks.

    `scratchpad` is the place for per-request policy state (policies are shared by concurrent
    requests; never keep request state on the policy object). `keepalive()` tells the idle
    timeout the policy is still working (e.g. waiting on a slow check). Policies send and
    decide through `luthien_litellm_plugin.streaming.helpers`.
    """

    def __init__(
        self,
        transaction_id: str,
        final_request: RequestMessage,
        state: StreamState,
        release: Release,
        holds: Holds,
        *,
        scratchpad: dict[str, object],
        observability: ObservabilityContext,
        keepalive: Callable[[], None] = _no_keepalive,
        policy_name: str = "",
        llm: LLMClient | None = None,
    ) -> None:
        self.transaction_id = transaction_id
        self.final_request = final_request
        self.scratchpad = scratchpad
        self.observability = observability
        self.keepalive = keepalive
        self.policy_name = policy_name
        self._llm = llm
        self._state = state
        self._release = release
        self._holds = holds

    @property
    def llm(self) -> LLMClient:
        """The client for the policy's own model calls (e.g. a judge): in the proxy, LiteLLM's
        router over the proxy's own model groups; as a library, the orchestrator's client."""
        return require_llm(self._llm)

    @property
    def request(self) -> RequestMessage:
        """The request as it went upstream (after the policy's `on_request`)."""
        return self.final_request

    @property
    def ingress_state(self) -> StreamState:
        """What arrived so far: blocks, finish reason, usage (read it; don't change it)."""
        return self._state

    @property
    def last_ingress_chunk(self) -> ModelResponseStream | None:
        chunks = self._state.raw_chunks
        return chunks[-1] if chunks else None
