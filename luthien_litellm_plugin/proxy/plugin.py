"""LuthienCallback: the CustomLogger LiteLLM Proxy calls; wires its hooks to the orchestrators.

Every hook the proxy looks up on the instance's own class (pre-call, streaming iterator,
response headers) is defined here, not inherited: LiteLLM ignores inherited ones.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.utils import ModelResponse, ModelResponseStream
from opentelemetry import trace
from opentelemetry.trace import Span

from luthien_litellm_plugin.errors import LuthienError
from luthien_litellm_plugin.observability.events import EventSink
from luthien_litellm_plugin.observability.transaction_recorder import DefaultTransactionRecorder
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.orchestration.policy_orchestrator import PolicyOrchestrator
from luthien_litellm_plugin.proxy import request_data
from luthien_litellm_plugin.proxy.client_errors import anthropic_error_event, http_error, stream_error
from luthien_litellm_plugin.proxy.settings import PluginConfig
from luthien_litellm_plugin.proxy.unused_llm_client import ProxyOwnsTheCall

CHAT_CALL_TYPES = frozenset({"acompletion", "completion"})
MESSAGES_CALL_TYPES = frozenset({"anthropic_messages"})
"""`/v1/messages`: Anthropic-format requests, SSE bytes while streaming, message dicts otherwise."""
TRANSACTION_HEADER = "x-luthien-transaction-id"

_tracer = trace.get_tracer("luthien_litellm_plugin")


class LuthienCallback(CustomLogger):
    """Runs the policy chosen for each model group over `/chat/completions` and `/v1/messages`."""

    def __init__(self, config: PluginConfig, model_policies: dict[str, str], sink: EventSink | None = None) -> None:
        super().__init__()
        self.config = config
        self.model_policies = model_policies
        timeout = config.settings.stream_idle_timeout_seconds
        self.orchestrators: dict[str, PolicyOrchestrator] = {
            name: create_default_orchestrator(policy, ProxyOwnsTheCall(), sink, stream_idle_timeout_seconds=timeout)
            for name, policy in config.policies.items()
        }
        self._spans: dict[str, Span] = {}

    def policy_for(self, model: str) -> str:
        return self.model_policies.get(model, self.config.settings.default_policy)

    # ----- request -----

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: object, data: dict, call_type: str
    ) -> dict:
        if call_type not in CHAT_CALL_TYPES and call_type not in MESSAGES_CALL_TYPES:
            return data
        transaction_id = uuid.uuid4().hex
        policy = self.policy_for(str(data.get("model")))
        api: request_data.Api = "messages" if call_type in MESSAGES_CALL_TYPES else "chat"
        request_data.mark(data, transaction_id, policy, api)
        span = _tracer.start_span("luthien.transaction", attributes={"luthien.policy": policy, "luthien.api": api})
        self._spans[transaction_id] = span
        original = request_data.client_request(data)
        orchestrator = self.orchestrators[policy]
        recorder = orchestrator.transaction(transaction_id, span).recorder
        if isinstance(recorder, DefaultTransactionRecorder):
            call_id = data.get("litellm_call_id")  # client-settable: a reference, never our key
            recorder.call_id = call_id if isinstance(call_id, str) else None
            recorder.api = api
        try:
            final = await orchestrator.process_request(original, transaction_id, span)
        except LuthienError as error:
            self._end_span(transaction_id)
            raise http_error(error) from error
        request_data.apply_request(data, original, final)
        return data

    # ----- responses -----

    # LiteLLM annotates items as ModelResponseStream; on /v1/messages they are SSE bytes.
    async def async_post_call_streaming_iterator_hook(  # type: ignore[override]
        self,
        user_api_key_dict: UserAPIKeyAuth,
        response: AsyncIterator[ModelResponseStream | bytes],
        request_data: dict,
    ) -> AsyncGenerator[ModelResponseStream | bytes, None]:
        found = self._open_transaction(request_data)
        if found is None:
            async for item in response:
                yield item
            return
        transaction_id, orchestrator, api = found
        span = self._span(transaction_id)
        try:
            # What LiteLLM hands the hook depends on the endpoint: SSE bytes on /v1/messages (the
            # ingress rejects anything else), ModelResponseStream chunks on chat.
            if api == "messages":
                reads = cast(AsyncIterator[bytes], response)
                events = orchestrator.stream_anthropic_response(reads, transaction_id, span)
                async for event in _with_anthropic_error_frame(events):
                    yield event
                return
            chunks = orchestrator.stream_response(
                cast(AsyncIterator[ModelResponseStream], response), transaction_id, span
            )
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    yield chunk
        except LuthienError as error:
            raise stream_error(error) from error
        finally:
            self._end_span(transaction_id)

    async def async_post_call_success_hook(
        self, data: dict, user_api_key_dict: UserAPIKeyAuth, response: object
    ) -> object:
        found = self._open_transaction(data)
        if found is None:
            return response
        transaction_id, orchestrator, _ = found
        span = self._span(transaction_id)
        try:
            if isinstance(response, ModelResponse):
                return await orchestrator.apply_full_response(response, transaction_id, span)
            if isinstance(response, dict) and response.get("type") == "message":
                return await orchestrator.apply_anthropic_message(response, transaction_id, span)
            await orchestrator.finish(transaction_id, "error", f"unexpected response type {type(response).__name__}")
            return response
        except LuthienError as error:
            raise http_error(error) from error
        finally:
            self._end_span(transaction_id)

    async def async_post_call_failure_hook(
        self,
        request_data: dict,
        original_exception: Exception,
        user_api_key_dict: UserAPIKeyAuth,
        traceback_str: str | None = None,
    ) -> None:
        found = self._open_transaction(request_data)
        if found is None:
            return None
        transaction_id, orchestrator, _ = found
        await orchestrator.finish(transaction_id, "error", f"{type(original_exception).__name__}: {original_exception}")
        self._end_span(transaction_id)
        return None

    async def async_post_call_response_headers_hook(
        self,
        data: dict,
        user_api_key_dict: UserAPIKeyAuth,
        response: object,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, object] | None = None,
    ) -> dict[str, str] | None:
        marked = request_data.marks(data)
        return {TRANSACTION_HEADER: marked.transaction_id} if marked else None

    # ----- per-request state -----

    def _open_transaction(self, data: dict) -> tuple[str, PolicyOrchestrator, request_data.Api] | None:
        """Our transaction for this request, if the pre-call hook opened one that is still open."""
        marked = request_data.marks(data)
        if marked is None:
            return None
        orchestrator = self.orchestrators.get(marked.policy)
        if orchestrator is None or not orchestrator.is_open(marked.transaction_id):
            return None
        return marked.transaction_id, orchestrator, marked.api

    def _span(self, transaction_id: str) -> Span:
        return self._spans.get(transaction_id) or trace.INVALID_SPAN

    def _end_span(self, transaction_id: str) -> None:
        span = self._spans.pop(transaction_id, None)
        if span is not None:
            span.end()


async def _with_anthropic_error_frame(events: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    """Ends a started stream that fails with an Anthropic `event: error` frame, never a cut.

    Before the first event the error is raised instead: the client then gets a real HTTP
    error (LiteLLM sends the status and message of a `StreamError` in Anthropic's format).
    """
    started = False
    async with contextlib.aclosing(events):
        try:
            async for event in events:
                started = True
                yield event
        except Exception as error:
            if not started:
                raise
            yield anthropic_error_event(error)
