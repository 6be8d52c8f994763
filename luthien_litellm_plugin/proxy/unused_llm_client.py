"""The LLMClient slot of orchestrators inside the proxy: LiteLLM makes the provider calls."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litellm.types.utils import ModelResponse, ModelResponseStream

from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.types import RequestMessage


class ProxyOwnsTheCall(LLMClient):
    """Never called: in the proxy, responses arrive through hooks (`stream_response`,
    `apply_full_response`), not through the orchestrator's own client."""

    def stream(self, request: RequestMessage) -> AsyncIterator[ModelResponseStream]:
        raise RuntimeError("inside LiteLLM Proxy the proxy calls the model; use stream_response")

    async def complete(self, request: RequestMessage) -> ModelResponse:
        raise RuntimeError("inside LiteLLM Proxy the proxy calls the model; use apply_full_response")
