"""The LLM client policies use inside the proxy: LiteLLM's router, as the plugin's own call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING

from litellm.types.utils import ModelResponse, ModelResponseStream

from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.proxy import binding
from luthien_litellm_plugin.types import RequestMessage

if TYPE_CHECKING:
    from litellm import Router


class RouterLLMClient(LLMClient):
    """Calls a model group of the running proxy through its router (its credentials, retries,
    fallbacks and logging), for a policy's own model calls such as a judge's.

    Such a call is made from inside a client's request, whose binding allows only deployments of
    that request's policy. It runs in a task of its own bound as internal (`binding.INTERNAL`),
    which changes only that task's copy of the context: the judge model may be any group, and
    the call opens no transaction and is not recorded as a client request.
    """

    async def complete(self, request: RequestMessage) -> ModelResponse:
        response = await asyncio.ensure_future(self._call(request, stream=False))
        if not isinstance(response, ModelResponse):
            raise TypeError(f"the router returned {type(response).__name__} to a non-streaming request")
        return response

    async def stream(self, request: RequestMessage) -> AsyncIterator[ModelResponseStream]:
        response = await asyncio.ensure_future(self._call(request, stream=True))
        if not isinstance(response, AsyncIterable):
            raise TypeError(f"the router returned {type(response).__name__} to a streaming request")
        async for chunk in response:
            yield chunk

    async def _call(self, request: RequestMessage, *, stream: bool) -> object:
        binding.bind(binding.INTERNAL)  # this task's context only
        return await _router().acompletion(**{**request.model_dump(exclude_none=True), "stream": stream})


def _router() -> Router:
    from litellm.proxy.proxy_server import llm_router

    if llm_router is None:
        raise RuntimeError("LiteLLM's router is not set up (no model_list in the proxy's config?)")
    return llm_router
