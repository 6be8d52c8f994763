"""PolicyOrchestrator: runs one policy over requests and responses, recording each transaction."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TypeVar, cast, overload

from litellm.types.llms.openai import ResponsesAPIResponse
from litellm.types.utils import ModelResponse, ModelResponseStream
from opentelemetry import trace
from opentelemetry.trace import Span

from luthien_litellm_plugin.errors import LuthienError, TerminalStatus
from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.observability.context import ObservabilityContext
from luthien_litellm_plugin.observability.transaction_recorder import TransactionRecorder
from luthien_litellm_plugin.orchestration import anthropic_message, responses_object
from luthien_litellm_plugin.orchestration.chain_stream import ChainLink, ChainStream
from luthien_litellm_plugin.orchestration.policy_stream import OutputEgress, PolicyStream
from luthien_litellm_plugin.orchestration.revision import Revision, request_fields, response_fields, revision
from luthien_litellm_plugin.orchestration.transaction import NO_ORIGIN, Origin, Transaction
from luthien_litellm_plugin.policies.chain import ChainPolicy
from luthien_litellm_plugin.policies.policy import Policy, PolicyContext, fail_closed, member_scratchpad
from luthien_litellm_plugin.streaming.anthropic_egress import ANTHROPIC_PING, AnthropicEgress
from luthien_litellm_plugin.streaming.anthropic_ingress import AnthropicIngress, AnthropicWire
from luthien_litellm_plugin.streaming.anthropic_validator import AnthropicStreamValidator
from luthien_litellm_plugin.streaming.assembler import StreamingChunkAssembler
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.streaming.egress import EgressStream
from luthien_litellm_plugin.streaming.egress_validator import EgressValidator
from luthien_litellm_plugin.streaming.error_types import anthropic_error_event
from luthien_litellm_plugin.streaming.forwarded import ForwardedText, StreamItem
from luthien_litellm_plugin.streaming.holds import Changes, Holds
from luthien_litellm_plugin.streaming.release import Release
from luthien_litellm_plugin.streaming.responses_egress import ResponsesEgress
from luthien_litellm_plugin.streaming.responses_ingress import ResponsesIngress, ResponsesWire
from luthien_litellm_plugin.streaming.responses_validator import ResponsesStreamValidator
from luthien_litellm_plugin.streaming.runtime import (
    ClientError,
    IdleDeadline,
    StreamProcessor,
    serve_batches,
    serve_chunks,
)
from luthien_litellm_plugin.types import JSONObject, RequestMessage, ToolCall

Chunk = ModelResponseStream
T = TypeVar("T")
K = TypeVar("K")
Out = TypeVar("Out")
DEFAULT_IDLE_TIMEOUT_SECONDS = 30.0


def _as_is(error: Exception) -> Exception:
    return error


def _with_egress(
    error_event: Callable[[Exception, ResponsesEgress], object], egress: ResponsesEgress, error: Exception
) -> object:
    return error_event(error, egress)


class PolicyOrchestrator:
    """Orchestrates request/response flow through policy layer.

    The observability context and recorder are created once per transaction (at its first
    call) and kept until its terminal status is recorded. `process_*` call the LLM client;
    `stream_response` / `apply_full_response` take a response obtained elsewhere (the proxy).
    """

    def __init__(
        self,
        policy: Policy,
        llm_client: LLMClient | None,
        observability_factory: Callable[[str, Span], ObservabilityContext],
        recorder_factory: Callable[[ObservabilityContext, Origin], TransactionRecorder],
        *,
        stream_idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
        keepalive_seconds: float | None = None,
    ) -> None:
        self.policy = policy
        self.llm_client = llm_client
        """The upstream for `process_*`, and the client policies make their own model calls with."""
        self.observability_factory = observability_factory
        self.recorder_factory = recorder_factory
        self.stream_idle_timeout_seconds = stream_idle_timeout_seconds
        self.keepalive_seconds = keepalive_seconds
        """While blocks are held: a keepalive after this long without output (default `runtime.KEEPALIVE_SECONDS`)."""
        self._transactions: dict[str, Transaction] = {}

    # ----- the plan's API -----

    async def process_request(self, request: RequestMessage, transaction_id: str, span: Span) -> RequestMessage:
        """Apply policy to request, record original + final. A block ends the transaction."""
        return (await self.revise_request(request, transaction_id, span)).final

    async def revise_request(
        self, request: RequestMessage, transaction_id: str, span: Span
    ) -> Revision[RequestMessage]:
        """`process_request`, with the request's fields before the policy ran and after: what a
        caller holding the request elsewhere (the proxy's `data`) must write back."""
        transaction = self.transaction(transaction_id, span)
        original_fields = request_fields(request)  # before the policy: it may edit `request` in place
        context = self._policy_context(transaction, request)
        started = time.perf_counter()
        try:
            final_request = await self._call_policy(self.policy.on_request(request, context))
        except LuthienError as error:
            await transaction.recorder.record_request(original_fields, original_fields)
            await self.finish(transaction_id, error.status, str(error))
            raise
        transaction.observability.record_histogram(
            "luthien.policy.request_latency", (time.perf_counter() - started) * 1000
        )
        transaction.final_request = final_request
        # A policy without a request hook returned `request` untouched: no need to dump it again.
        edited = final_request is not request or self.policy.has_request_hook()
        result = revision(final_request, original_fields, request_fields(final_request) if edited else original_fields)
        await transaction.recorder.record_request(result.original_fields, result.final_fields)
        return result

    async def process_streaming_response(
        self, request: RequestMessage, transaction_id: str, span: Span
    ) -> AsyncIterator[Chunk]:
        """Call the LLM and stream its response through the policy."""
        upstream = self._client().stream(request)
        async for chunk in self.stream_response(upstream, transaction_id, span, request):
            yield chunk

    async def process_full_response(self, request: RequestMessage, transaction_id: str, span: Span) -> ModelResponse:
        """Call the LLM and pass its complete response through the policy."""
        self.transaction(transaction_id, span)
        try:
            response = await self._client().complete(request)
        except Exception as error:
            await self.finish(transaction_id, "error", str(error))
            raise
        return await self.apply_full_response(response, transaction_id, span, request)

    # ----- responses obtained elsewhere -----

    @overload
    def stream_response(
        self,
        upstream: AsyncIterator[Chunk],
        transaction_id: str,
        span: Span,
        request: RequestMessage | None = None,
        *,
        client_error: ClientError = _as_is,
        keepalive: None = None,
    ) -> AsyncGenerator[Chunk, None]: ...

    @overload
    def stream_response(
        self,
        upstream: AsyncIterator[Chunk],
        transaction_id: str,
        span: Span,
        request: RequestMessage | None = None,
        *,
        client_error: ClientError = _as_is,
        keepalive: Callable[[], K],
    ) -> AsyncGenerator[Chunk | K, None]: ...

    def stream_response(
        self,
        upstream: AsyncIterator[Chunk],
        transaction_id: str,
        span: Span,
        request: RequestMessage | None = None,
        *,
        client_error: ClientError = _as_is,
        keepalive: Callable[[], K] | None = None,
    ) -> AsyncGenerator[Chunk | K, None]:
        """Run an upstream stream through the policy. Records the transaction however it ends; a
        failure is raised as `client_error(error)`; `keepalive()` is sent when blocks are held
        and the client received nothing for `runtime.KEEPALIVE_SECONDS` (in the proxy: an SSE
        comment)."""
        transaction = self.transaction(transaction_id, span)
        recorder = transaction.recorder
        validator = EgressValidator()
        recorder.check_served_stream_with(validator)
        egress = EgressStream(recorder.add_egress_chunk, validator)
        deadline = IdleDeadline(self.stream_idle_timeout_seconds)
        stream = self._policy_stream(transaction, request, egress, deadline)
        finish = partial(self._finish_stream, transaction_id)
        return serve_chunks(
            upstream,
            stream,
            deadline=deadline,
            finish=finish,
            client_error=client_error,
            keepalive=keepalive,
            keepalive_seconds=self.keepalive_seconds,
        )

    def stream_anthropic_response(
        self,
        upstream: AsyncIterator[bytes],
        transaction_id: str,
        span: Span,
        request: RequestMessage | None = None,
        *,
        error_frame: Callable[[Exception], bytes] = anthropic_error_event,
        client_error: ClientError = _as_is,
        keepalive: Callable[[], bytes] | None = lambda: ANTHROPIC_PING,
    ) -> AsyncGenerator[bytes, None]:
        """Run an Anthropic Messages SSE stream (bytes cut anywhere) through the policy.

        Upstream events the policy forwards unchanged go out as the exact upstream bytes. The
        events of one upstream read are processed together and leave as one item. A failure
        after the first event ends the stream with `error_frame(error)`; before it, it raises.
        """
        transaction = self.transaction(transaction_id, span)
        recorder = transaction.recorder
        wire = AnthropicWire()
        validator = AnthropicStreamValidator()
        recorder.check_served_stream_with(validator)
        egress = AnthropicEgress(recorder.add_egress_chunk, wire, validator, recorder.add_egress_text)
        deadline = IdleDeadline(self.stream_idle_timeout_seconds)
        stream = self._policy_stream(transaction, request, egress, deadline, egress.forward_text)
        ingress = AnthropicIngress(wire, text_chunks=_reads_text(stream))

        async def finish(status: TerminalStatus, error: str | None) -> None:
            usage = ingress.unreported_usage()  # the stream ended before message_delta
            if usage is not None:
                recorder.add_ingress_chunk(usage)
                if egress.started:  # the client received message_start, and the usage it carries
                    recorder.add_egress_chunk(usage)
            await self._finish_stream(transaction_id, status, error)

        return serve_batches(
            ingress.batches(upstream),
            stream,
            deadline=deadline,
            join=b"".join,
            finish=finish,
            error_frame=error_frame,
            client_error=client_error,
            keepalive=keepalive,
            keepalive_seconds=self.keepalive_seconds,
        )

    def stream_responses_response(
        self,
        upstream: AsyncIterator[object],
        transaction_id: str,
        span: Span,
        request: RequestMessage | None = None,
        *,
        error_event: Callable[[Exception, ResponsesEgress], object] | None = None,
    ) -> AsyncGenerator[object, None]:
        """Run an OpenAI Responses event stream (LiteLLM's event objects) through the policy.

        Upstream events the policy forwards unchanged go out as those very objects. A failure
        is raised, or ends the stream with `error_event(error, egress)` (which may raise instead).
        """
        transaction = self.transaction(transaction_id, span)
        recorder = transaction.recorder
        wire = ResponsesWire()
        validator = ResponsesStreamValidator()
        recorder.check_served_stream_with(validator)
        egress = ResponsesEgress(recorder.add_egress_chunk, wire, validator, recorder.add_egress_text)
        deadline = IdleDeadline(self.stream_idle_timeout_seconds)
        stream = self._policy_stream(transaction, request, egress, deadline, egress.forward_text)
        return serve_chunks(
            ResponsesIngress(wire, text_chunks=_reads_text(stream)).chunks(upstream),
            cast(StreamProcessor[StreamItem, object], stream),  # its items are events; the error item may be bytes
            deadline=deadline,
            finish=partial(self._finish_stream, transaction_id),
            error_item=None if error_event is None else partial(_with_egress, error_event, egress),
        )

    async def apply_full_response(
        self, response: ModelResponse, transaction_id: str, span: Span, request: RequestMessage | None = None
    ) -> ModelResponse:
        """Pass a complete response through the policy and record both versions."""
        return (await self.revise_full_response(response, transaction_id, span, request)).final

    async def revise_full_response(
        self, response: ModelResponse, transaction_id: str, span: Span, request: RequestMessage | None = None
    ) -> Revision[ModelResponse]:
        """`apply_full_response`, with the response's fields before the policy ran and after."""
        transaction = self.transaction(transaction_id, span)
        result = await self._revise_response(transaction, response, request or transaction.final_request)
        await self.finish(transaction_id, "success")
        return result

    async def _revise_response(
        self, transaction: Transaction, response: ModelResponse, request: RequestMessage | None
    ) -> Revision[ModelResponse]:
        """Run the policy over a complete response and record both versions; a block or error
        ends the transaction."""
        original_fields = response_fields(response)  # before the policy: it may edit `response` in place
        context = self._policy_context(transaction, request)
        try:
            final = await self._call_policy(self.policy.process_full_response(response, context))
        except LuthienError as error:
            await self.finish(transaction.transaction_id, error.status, str(error))
            raise
        result = revision(final, original_fields, response_fields(final))
        await transaction.recorder.finalize_non_streaming(result.original_fields, result.final_fields)
        return result

    async def apply_anthropic_message(
        self, message: JSONObject, transaction_id: str, span: Span, request: RequestMessage | None = None
    ) -> JSONObject:
        """Pass a complete Anthropic Messages response through the policy; unchanged → `message` itself."""
        original = anthropic_message.to_model_response(message)
        result = await self.revise_full_response(original, transaction_id, span, request)
        return anthropic_message.apply_changes(message, result)

    async def apply_responses_response(
        self, response: ResponsesAPIResponse, transaction_id: str, span: Span, request: RequestMessage | None = None
    ) -> ResponsesAPIResponse:
        """Pass a complete OpenAI Responses object through the policy; unchanged → `response` itself."""
        original = responses_object.to_model_response(response)
        result = await self.revise_full_response(original, transaction_id, span, request)
        return responses_object.apply_changes(response, result)

    async def check_tool_call(
        self, tool_call: ToolCall, request: RequestMessage, transaction_id: str, span: Span
    ) -> ToolCall | None:
        """Run the policy over one complete tool call about to run outside a model response (a
        tool a gateway runs for a client), as if a model had asked for it.

        Returns the call to run (its arguments possibly changed by the policy), or None when the
        policy removed or replaced it; the transaction then ends `blocked`.
        """
        transaction = self.transaction(transaction_id, span)
        transaction.final_request = request
        fields = request_fields(request)
        await transaction.recorder.record_request(fields, fields)
        final = (await self._revise_response(transaction, _tool_call_response(tool_call), request)).final
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
            if transaction.owns_span:
                transaction.span.end()

    def transaction(
        self, transaction_id: str, span: Span, *, owns_span: bool = False, origin: Origin = NO_ORIGIN
    ) -> Transaction:
        """The transaction with this id, created (once) on first use. With `owns_span`, the span
        ends when the transaction does; `origin` is recorded with it."""
        transaction = self._transactions.get(transaction_id)
        if transaction is None:
            observability = self.observability_factory(transaction_id, span)
            recorder = self.recorder_factory(observability, origin)
            transaction = Transaction(transaction_id, span, observability, recorder, owns_span=owns_span)
            self._transactions[transaction_id] = transaction
        return transaction

    def span_of(self, transaction_id: str) -> Span:
        """The span of an open transaction (the invalid span if there is none)."""
        transaction = self._transactions.get(transaction_id)
        return transaction.span if transaction is not None else trace.INVALID_SPAN

    def is_open(self, transaction_id: str) -> bool:
        return transaction_id in self._transactions

    @property
    def open_transactions(self) -> int:
        return len(self._transactions)

    # ----- internals -----

    def _client(self) -> LLMClient:
        if self.llm_client is None:
            raise RuntimeError("this orchestrator has no LLM client: pass responses to stream_response / apply_*")
        return self.llm_client

    async def _finish_stream(self, transaction_id: str, status: TerminalStatus, error: str | None) -> None:
        transaction = self._transactions.get(transaction_id)
        if transaction is not None:
            await transaction.recorder.finalize_streaming()
        await self.finish(transaction_id, status, error)

    async def _call_policy(self, call: Awaitable[T]) -> T:
        return await fail_closed(self.policy, call)

    def _policy_context(self, transaction: Transaction, request: RequestMessage | None) -> PolicyContext:
        if request is None:
            raise RuntimeError(f"transaction {transaction.transaction_id} has no request")
        return PolicyContext(
            transaction.transaction_id,
            transaction.span,
            request,
            scratchpad=transaction.scratchpad,
            observability=transaction.observability,
            llm=self.llm_client,
        )

    def _policy_stream(
        self,
        transaction: Transaction,
        request: RequestMessage | None,
        egress: OutputEgress[Out],
        deadline: IdleDeadline,
        forward: Callable[[ForwardedText], None] | None = None,
    ) -> PolicyStream[Out] | ChainStream[Out]:
        """The stream processor: one policy's, or, for a chain, one per member, each fed what the
        previous one released. `forward` sends a `ForwardedText` on (when the ingress makes them);
        the recorder takes its text as upstream text."""
        final_request = request or transaction.final_request
        if final_request is None:
            raise RuntimeError(f"transaction {transaction.transaction_id} has no request")

        def contexts(
            policy: Policy, scratchpad: dict[str, object]
        ) -> Callable[[StreamingChunkAssembler, Release, Holds], StreamingResponseContext]:
            def context(assembler: StreamingChunkAssembler, release: Release, holds: Holds) -> StreamingResponseContext:
                return StreamingResponseContext(
                    transaction.transaction_id,
                    final_request,
                    assembler.state,
                    release,
                    holds,
                    scratchpad=scratchpad,
                    observability=transaction.observability,
                    keepalive=deadline.keepalive,
                    policy_name=policy.name,
                    llm=self.llm_client,
                )

            return context

        observe_ingress = transaction.recorder.add_ingress_chunk
        if not isinstance(self.policy, ChainPolicy):
            context = contexts(self.policy, transaction.scratchpad)
            return PolicyStream(
                self.policy,
                egress,
                context,
                observe_ingress,
                forward=forward,
                observe_ingress_text=transaction.recorder.add_ingress_text,
            )
        changes = Changes()
        *firsts, last = self.policy.members
        # Every member can forward text; the chain does (`ChainStream.forwards_text`) only if
        # none of them reads it. Only the first records it as upstream text.
        observe_text = transaction.recorder.add_ingress_text
        links: list[PolicyStream[StreamItem]] = []
        for position, member in enumerate(firsts):
            link = ChainLink()
            links.append(
                PolicyStream(
                    member,
                    link,
                    contexts(member, member_scratchpad(transaction.scratchpad, position)),
                    observe_ingress if position == 0 else _unobserved,
                    changes,
                    forward=link.forward_text,
                    observe_ingress_text=observe_text if position == 0 else _unobserved_text,
                )
            )
        scratchpad = member_scratchpad(transaction.scratchpad, len(firsts))
        final = PolicyStream(
            last,
            egress,
            contexts(last, scratchpad),
            _unobserved if firsts else observe_ingress,
            changes,
            forward=forward,
            observe_ingress_text=_unobserved_text if firsts else observe_text,
        )
        return ChainStream(links, final, changes)


def _reads_text(stream: PolicyStream[Out] | ChainStream[Out]) -> bool:
    """Whether the stream's text deltas must be made into chunks. Text no policy reads is not:
    it goes out as the upstream's own events."""
    return not stream.forwards_text


def _unobserved(chunk: Chunk) -> None:
    """A chain's later policies see what the one before released, not the upstream."""


def _unobserved_text(text: str) -> None:
    """Likewise for text a chain's earlier policy forwarded."""


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
