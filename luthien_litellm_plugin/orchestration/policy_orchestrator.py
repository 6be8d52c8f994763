"""PolicyOrchestrator: runs one policy over requests and responses, recording each transaction."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import TypeVar

from litellm.types.llms.openai import ResponsesAPIResponse
from litellm.types.utils import ModelResponse, ModelResponseStream
from opentelemetry.trace import Span

from luthien_litellm_plugin.errors import LuthienError, PolicyError, TerminalStatus
from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.observability.context import ObservabilityContext
from luthien_litellm_plugin.observability.transaction_recorder import TransactionRecorder
from luthien_litellm_plugin.orchestration import anthropic_message, responses_object
from luthien_litellm_plugin.orchestration.transaction import Transaction
from luthien_litellm_plugin.policies.policy import Policy, PolicyContext
from luthien_litellm_plugin.streaming.anthropic_egress import AnthropicEgress
from luthien_litellm_plugin.streaming.anthropic_ingress import AnthropicIngress, AnthropicWire
from luthien_litellm_plugin.streaming.anthropic_validator import AnthropicStreamValidator
from luthien_litellm_plugin.streaming.channel import Channel
from luthien_litellm_plugin.streaming.chunks import finish_reason_of
from luthien_litellm_plugin.streaming.egress import Egress, EgressStream
from luthien_litellm_plugin.streaming.responses_egress import ResponsesEgress
from luthien_litellm_plugin.streaming.responses_events import Event as ResponsesEvent
from luthien_litellm_plugin.streaming.responses_ingress import ResponsesIngress, ResponsesWire
from luthien_litellm_plugin.streaming.responses_validator import ResponsesStreamValidator
from luthien_litellm_plugin.streaming.stream_blocks import ContentStreamBlock, StreamBlock, ToolCallStreamBlock
from luthien_litellm_plugin.streaming.stream_state import StreamState
from luthien_litellm_plugin.streaming.streaming_chunk_assembler import StreamingChunkAssembler
from luthien_litellm_plugin.streaming.streaming_orchestrator import (
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    PolicyProcessor,
    StreamingOrchestrator,
)
from luthien_litellm_plugin.streaming.streaming_response_context import StreamingResponseContext
from luthien_litellm_plugin.types import JSONObject, RequestMessage, ToolCall

Chunk = ModelResponseStream
T = TypeVar("T")
Out = TypeVar("Out")
EmitObserver = Callable[[Chunk], None]
EgressFactory = Callable[[Channel[Out], EmitObserver, TransactionRecorder], Egress]
"""Builds the egress for one stream: (client channel, observer of emitted chunks, recorder)."""
Hook = Callable[[StreamingResponseContext], Awaitable[None]]


class PolicyOrchestrator:
    """Orchestrates request/response flow through policy layer.

    The observability context and recorder are created once per transaction (at its first
    call) and kept until its terminal status is recorded. `process_*` call the LLM client;
    `stream_response` / `apply_full_response` take a response obtained elsewhere (the proxy).
    """

    def __init__(
        self,
        policy: Policy,
        llm_client: LLMClient,
        observability_factory: Callable[[str, Span], ObservabilityContext],
        recorder_factory: Callable[[ObservabilityContext], TransactionRecorder],
        streaming_orchestrator: StreamingOrchestrator | None = None,
        *,
        stream_idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
    ) -> None:
        self.policy = policy
        self.llm_client = llm_client
        self.observability_factory = observability_factory
        self.recorder_factory = recorder_factory
        self.streaming_orchestrator = streaming_orchestrator or StreamingOrchestrator()
        self.stream_idle_timeout_seconds = stream_idle_timeout_seconds
        self._transactions: dict[str, Transaction] = {}

    # ----- the plan's API -----

    async def process_request(self, request: RequestMessage, transaction_id: str, span: Span) -> RequestMessage:
        """Apply policy to request, record original + final. A block ends the transaction."""
        transaction = self.transaction(transaction_id, span)
        transaction.original_request = request
        context = self._policy_context(transaction, request)
        started = time.perf_counter()
        try:
            final_request = await self._call_policy(self.policy.on_request(request, context))
        except LuthienError as error:
            await transaction.recorder.record_request(request, request)
            await self.finish(transaction_id, error.status, str(error))
            raise
        transaction.observability.record_histogram(
            "luthien.policy.request_latency", (time.perf_counter() - started) * 1000
        )
        transaction.final_request = final_request
        await transaction.recorder.record_request(request, final_request)
        return final_request

    async def process_streaming_response(
        self, request: RequestMessage, transaction_id: str, span: Span
    ) -> AsyncIterator[Chunk]:
        """Call the LLM and stream its response through the policy."""
        async for chunk in self.stream_response(self.llm_client.stream(request), transaction_id, span, request):
            yield chunk

    async def process_full_response(self, request: RequestMessage, transaction_id: str, span: Span) -> ModelResponse:
        """Call the LLM and pass its complete response through the policy."""
        self.transaction(transaction_id, span)
        try:
            response = await self.llm_client.complete(request)
        except Exception as error:
            await self.finish(transaction_id, "error", str(error))
            raise
        return await self.apply_full_response(response, transaction_id, span, request)

    # ----- responses obtained elsewhere -----

    def stream_response(
        self, upstream: AsyncIterator[Chunk], transaction_id: str, span: Span, request: RequestMessage | None = None
    ) -> AsyncGenerator[Chunk, None]:
        """Run an upstream stream through the policy. Records the transaction however it ends."""

        def run(processor: PolicyProcessor[Chunk]) -> AsyncGenerator[Chunk, None]:
            return self.streaming_orchestrator.process(upstream, processor, self.stream_idle_timeout_seconds, span)

        return self._stream(run, transaction_id, span, request, _openai_egress)

    def stream_anthropic_response(
        self, upstream: AsyncIterator[bytes], transaction_id: str, span: Span, request: RequestMessage | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Run an Anthropic Messages SSE stream (bytes cut anywhere) through the policy.

        Upstream events the policy forwards unchanged go out as the exact upstream bytes. The
        events of one upstream read are processed together and leave as one item.
        """
        wire = AnthropicWire()
        batches = AnthropicIngress(wire).batches(upstream)

        def run(processor: PolicyProcessor[bytes]) -> AsyncGenerator[bytes, None]:
            timeout = self.stream_idle_timeout_seconds
            return self.streaming_orchestrator.process_batches(batches, processor, b"".join, timeout)

        def egress(out: Channel[bytes], observe: EmitObserver, recorder: TransactionRecorder) -> AnthropicEgress:
            validator = AnthropicStreamValidator()
            recorder.check_served_stream_with(validator)
            return AnthropicEgress(out, observe, wire, validator)

        return self._stream(run, transaction_id, span, request, egress)

    def stream_responses_response(
        self, upstream: AsyncIterator[object], transaction_id: str, span: Span, request: RequestMessage | None = None
    ) -> ResponsesStream:
        """Run an OpenAI Responses event stream (LiteLLM's event objects) through the policy.

        Upstream events the policy forwards unchanged go out as those very objects. If the stream
        fails after it started, `ResponsesStream.failed` gives the event to end it with.
        """
        wire = ResponsesWire()
        chunks = ResponsesIngress(wire).chunks(upstream)
        served = ResponsesStream()

        def run(processor: PolicyProcessor[ResponsesEvent]) -> AsyncGenerator[ResponsesEvent, None]:
            return self.streaming_orchestrator.process(chunks, processor, self.stream_idle_timeout_seconds, span)

        def egress(
            out: Channel[ResponsesEvent], observe: EmitObserver, recorder: TransactionRecorder
        ) -> ResponsesEgress:
            validator = ResponsesStreamValidator()
            recorder.check_served_stream_with(validator)
            served.egress = ResponsesEgress(out, observe, wire, validator)
            return served.egress

        served.events = self._stream(run, transaction_id, span, request, egress)
        return served

    async def _stream(
        self,
        run: Callable[[PolicyProcessor[Out]], AsyncGenerator[Out, None]],
        transaction_id: str,
        span: Span,
        request: RequestMessage | None,
        egress_factory: EgressFactory[Out],
    ) -> AsyncGenerator[Out, None]:
        transaction = self.transaction(transaction_id, span)
        status: TerminalStatus = "cancelled"
        error_text: str | None = "client disconnected"
        try:
            processor = self._policy_processor(transaction, request or transaction.final_request, egress_factory)
            items = run(processor)
            async with contextlib.aclosing(items):
                async for item in items:
                    yield item
            status, error_text = "success", None
        except LuthienError as error:
            status, error_text = error.status, str(error)
            raise
        except Exception as error:
            status, error_text = "error", f"{type(error).__name__}: {error}"
            raise
        finally:
            await asyncio.shield(self._finish_stream(transaction_id, status, error_text))

    async def apply_full_response(
        self, response: ModelResponse, transaction_id: str, span: Span, request: RequestMessage | None = None
    ) -> ModelResponse:
        """Pass a complete response through the policy and record both versions."""
        transaction = self.transaction(transaction_id, span)
        context = self._policy_context(transaction, request or transaction.final_request)
        try:
            final = await self._call_policy(self.policy.process_full_response(response, context))
        except LuthienError as error:
            await self.finish(transaction_id, error.status, str(error))
            raise
        await transaction.recorder.finalize_non_streaming(response, final)
        await self.finish(transaction_id, "success")
        return final

    async def apply_anthropic_message(
        self, message: JSONObject, transaction_id: str, span: Span, request: RequestMessage | None = None
    ) -> JSONObject:
        """Pass a complete Anthropic Messages response through the policy; unchanged → `message` itself."""
        original = anthropic_message.to_model_response(message)
        final = await self.apply_full_response(original, transaction_id, span, request)
        return anthropic_message.apply_changes(message, original, final)

    async def apply_responses_response(
        self, response: ResponsesAPIResponse, transaction_id: str, span: Span, request: RequestMessage | None = None
    ) -> ResponsesAPIResponse:
        """Pass a complete OpenAI Responses object through the policy; unchanged → `response` itself."""
        original = responses_object.to_model_response(response)
        final = await self.apply_full_response(original, transaction_id, span, request)
        return responses_object.apply_changes(response, original, final)

    async def check_tool_call(
        self, tool_call: ToolCall, request: RequestMessage, transaction_id: str, span: Span
    ) -> ToolCall | None:
        """Run the policy over one complete tool call about to run outside a model response (a
        tool a gateway runs for a client), as if a model had asked for it.

        Returns the call to run (its arguments possibly changed by the policy), or None when the
        policy removed or replaced it; the transaction then ends `blocked`.
        """
        transaction = self.transaction(transaction_id, span)
        transaction.original_request = transaction.final_request = request
        await transaction.recorder.record_request(request, request)
        response = _tool_call_response(tool_call)
        context = self._policy_context(transaction, request)
        try:
            final = await self._call_policy(self.policy.process_full_response(response, context))
        except LuthienError as error:
            await self.finish(transaction_id, error.status, str(error))
            raise
        await transaction.recorder.finalize_non_streaming(response, final)
        kept = _tool_call_named(final, tool_call.name)
        if kept is None:
            await self.finish(
                transaction_id, "blocked", f"policy '{self.policy.name}' removed tool call {tool_call.name}"
            )
            return None
        await self.finish(transaction_id, "success")
        return kept

    async def finish(self, transaction_id: str, status: TerminalStatus, error: str | None = None) -> None:
        """Record the terminal status and forget the transaction. Later calls are ignored."""
        transaction = self._transactions.pop(transaction_id, None)
        if transaction is not None:
            await transaction.recorder.record_completion(status, error)

    def transaction(self, transaction_id: str, span: Span) -> Transaction:
        """The transaction with this id, created (once) on first use."""
        transaction = self._transactions.get(transaction_id)
        if transaction is None:
            observability = self.observability_factory(transaction_id, span)
            recorder = self.recorder_factory(observability)
            transaction = Transaction(transaction_id, span, observability, recorder)
            self._transactions[transaction_id] = transaction
        return transaction

    def is_open(self, transaction_id: str) -> bool:
        return transaction_id in self._transactions

    @property
    def open_transactions(self) -> int:
        return len(self._transactions)

    # ----- internals -----

    async def _finish_stream(self, transaction_id: str, status: TerminalStatus, error: str | None) -> None:
        transaction = self._transactions.get(transaction_id)
        if transaction is not None:
            await transaction.recorder.finalize_streaming()
        await self.finish(transaction_id, status, error)

    async def _call_policy(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except LuthienError:
            raise
        except Exception as error:
            raise PolicyError(self.policy.name, error) from error

    def _policy_context(self, transaction: Transaction, request: RequestMessage | None) -> PolicyContext:
        if request is None:
            raise RuntimeError(f"transaction {transaction.transaction_id} has no request")
        return PolicyContext(
            transaction.transaction_id,
            transaction.span,
            request,
            scratchpad=transaction.scratchpad,
            observability=transaction.observability,
        )

    def _policy_processor(
        self, transaction: Transaction, request: RequestMessage | None, egress_factory: EgressFactory[Out]
    ) -> PolicyProcessor[Out]:
        if request is None:
            raise RuntimeError(f"transaction {transaction.transaction_id} has no request")
        policy = self.policy
        recorder = transaction.recorder
        delta_hooks: dict[type[StreamBlock], Hook] = {
            ContentStreamBlock: policy.on_content_delta,
            ToolCallStreamBlock: policy.on_tool_call_delta,
        }
        complete_hooks: dict[type[StreamBlock], Hook] = {
            ContentStreamBlock: policy.on_content_complete,
            ToolCallStreamBlock: policy.on_tool_call_complete,
        }

        async def dispatch(chunk: Chunk, state: StreamState, ctx: StreamingResponseContext) -> None:
            await policy.on_chunk_received(ctx)
            if state.current_block is not None:
                await delta_hooks[type(state.current_block)](ctx)
            if state.just_completed is not None:
                await complete_hooks[type(state.just_completed)](ctx)
            if chunk.choices and finish_reason_of(chunk.choices[0]) is not None:
                await policy.on_finish_reason(ctx)

        async def process(incoming: Channel[Chunk], outgoing: Channel[Out], keepalive: Callable[[], None]) -> None:
            egress = egress_factory(outgoing, _observed(recorder.add_egress_chunk, keepalive), recorder)
            assembler = StreamingChunkAssembler(on_chunk_callback=dispatch)
            ctx = StreamingResponseContext(
                transaction_id=transaction.transaction_id,
                final_request=request,
                ingress_assembler=assembler,
                egress_queue=egress,
                scratchpad=transaction.scratchpad,
                observability=transaction.observability,
                keepalive=keepalive,
                policy_name=policy.name,
            )
            async for chunk in incoming:
                recorder.add_ingress_chunk(chunk)
                await self._guarded(assembler.feed(chunk, ctx))
            unfinished = assembler.close_open_block()
            if unfinished is not None:
                await self._guarded(complete_hooks[type(unfinished)](ctx))
                assembler.state.just_completed = None
            await self._guarded(policy.on_stream_complete(ctx))
            egress.finish(assembler.state.finish_reason)

        return process

    async def _guarded(self, call: Awaitable[None]) -> None:
        """Run policy code; an unexpected exception fails the stream closed as a PolicyError."""
        try:
            await call
        except LuthienError:
            raise
        except Exception as error:
            raise PolicyError(self.policy.name, error) from error


class ResponsesStream:
    """A Responses stream being served: its `events`, and what ends it if it fails after starting."""

    def __init__(self) -> None:
        self.events: AsyncGenerator[ResponsesEvent, None]
        self.egress: ResponsesEgress | None = None

    @property
    def started(self) -> bool:
        """True once an event went out to the client (an error must then be an event, not an HTTP error)."""
        return self.egress is not None and self.egress.started

    @property
    def finished(self) -> bool:
        """True once the stream's last event went out (nothing may follow it)."""
        return self.egress is not None and self.egress.finished

    def failed(self, code: str, message: str) -> ResponsesEvent:
        """The `response.failed` event ending what was served, with the error's code and message."""
        if self.egress is None or self.egress.finished:
            raise RuntimeError("no stream to end: it has not started, or it has ended")
        return self.egress.failed(code, message)


def _openai_egress(out: Channel[Chunk], observe: EmitObserver, recorder: TransactionRecorder) -> EgressStream:
    return EgressStream(out, observe)


def _observed(record: Callable[[Chunk], None], keepalive: Callable[[], None]) -> Callable[[Chunk], None]:
    def observe(chunk: Chunk) -> None:
        keepalive()
        record(chunk)

    return observe


def _tool_call_response(tool_call: ToolCall) -> ModelResponse:
    function = {"name": tool_call.name, "arguments": tool_call.arguments}
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": tool_call.id, "type": "function", "function": function}],
    }
    return ModelResponse(choices=[{"index": 0, "message": message, "finish_reason": "tool_calls"}])


def _tool_call_named(response: ModelResponse, name: str) -> ToolCall | None:
    """The response's tool call named `name`, if the policy kept one."""
    for choice in response.choices[:1]:
        for call in getattr(getattr(choice, "message", None), "tool_calls", None) or []:
            if call.function.name == name:
                return ToolCall(id=call.id or "", name=name, arguments=call.function.arguments or "")
    return None
