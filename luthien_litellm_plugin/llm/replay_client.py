"""An LLMClient that replays recorded chunks: for testing policies without a provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from litellm.types.utils import ModelResponse, ModelResponseStream

from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.types import RequestMessage


class ReplayLLMClient(LLMClient):
    """Streams the given chunks and returns the given complete response; records requests."""

    def __init__(
        self,
        chunks: Sequence[ModelResponseStream] = (),
        response: ModelResponse | None = None,
        *,
        error: BaseException | None = None,
    ) -> None:
        self.chunks = list(chunks)
        self.response = response
        self.error = error
        """Raised after the chunks are streamed (an upstream failing mid-stream)."""
        self.requests: list[RequestMessage] = []

    async def stream(self, request: RequestMessage) -> AsyncIterator[ModelResponseStream]:
        self.requests.append(request)
        for chunk in self.chunks:
            yield chunk
        if self.error is not None:
            raise self.error

    async def complete(self, request: RequestMessage) -> ModelResponse:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        if self.response is None:
            raise RuntimeError("ReplayLLMClient has no complete response to return")
        return self.response
