"""LLMClient backed by `litellm.acompletion` (any provider LiteLLM supports)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import litellm
from litellm.types.utils import ModelResponse, ModelResponseStream

from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.types import RequestMessage


class LiteLLMClient(LLMClient):
    """LLM client using the litellm library. Extra keyword arguments go to every call."""

    def __init__(self, **completion_kwargs: object) -> None:
        self._kwargs = completion_kwargs

    async def stream(self, request: RequestMessage) -> AsyncIterator[ModelResponseStream]:
        data = {**self._kwargs, **request.model_dump(exclude_none=True), "stream": True}
        response = await litellm.acompletion(**data)
        if isinstance(response, ModelResponse):
            raise TypeError("litellm returned a complete response to a streaming request")
        async for chunk in response:
            yield chunk

    async def complete(self, request: RequestMessage) -> ModelResponse:
        data = {**self._kwargs, **request.model_dump(exclude_none=True), "stream": False}
        response = await litellm.acompletion(**data)
        if not isinstance(response, ModelResponse):
            raise TypeError(f"litellm returned {type(response).__name__} to a non-streaming request")
        return response
