"""LLMClient: how the engine reaches a model when it runs as a library (not inside the proxy)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from litellm.types.utils import ModelResponse, ModelResponseStream

from luthien_litellm_plugin.types import RequestMessage


class LLMClient(ABC):
    """Abstract interface for LLM backend communication."""

    @abstractmethod
    def stream(self, request: RequestMessage) -> AsyncIterator[ModelResponseStream]:
        """Stream response from LLM backend (OpenAI format)."""

    @abstractmethod
    async def complete(self, request: RequestMessage) -> ModelResponse:
        """Get complete response from LLM backend (OpenAI format)."""
