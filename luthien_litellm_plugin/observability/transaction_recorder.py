"""TransactionRecorder: what one transaction looked like coming in and going out."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Protocol

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin import events
from luthien_litellm_plugin.errors import TerminalStatus
from luthien_litellm_plugin.observability.context import ObservabilityContext
from luthien_litellm_plugin.observability.reconstruction import ResponseReconstructor
from luthien_litellm_plugin.process import process_id
from luthien_litellm_plugin.types import JSONObject, JSONValue


class ServedStreamValidator(Protocol):
    """Checks what was served against a wire format's rules; `finish` returns the violations."""

    def finish(self) -> list[str]: ...


class TransactionRecorder(ABC):
    """Abstract interface for recording transactions."""

    @abstractmethod
    async def record_request(self, original: JSONObject, final: JSONObject) -> None:
        """Record the request's fields before and after the policy (the same object when unchanged)."""

    @abstractmethod
    def add_ingress_chunk(self, chunk: ModelResponseStream) -> None:
        """Take in an upstream chunk (streaming only)."""

    @abstractmethod
    def add_egress_chunk(self, chunk: ModelResponseStream) -> None:
        """Take in a chunk served to the client (streaming only)."""

    @abstractmethod
    async def finalize_streaming(self) -> None:
        """Finalize streaming response recording."""

    @abstractmethod
    async def finalize_non_streaming(self, original: JSONObject, final: JSONObject) -> None:
        """Record a complete response's fields before and after the policy (the same object when unchanged)."""

    async def record_completion(self, status: TerminalStatus, error: str | None = None) -> None:
        """Record the transaction's terminal status. Called exactly once, last."""

    async def record_unprocessed_request(self, request: JSONObject, model: str) -> None:
        """Record a request that did not run through the policy (refused, or allowed unpoliced)."""

    @abstractmethod
    def add_ingress_text(self, text: str) -> None:
        """Take in an upstream text delta that came without a chunk (streaming only)."""

    @abstractmethod
    def add_egress_text(self, text: str) -> None:
        """Take in a text delta served without a chunk (streaming only)."""

    def check_served_stream_with(self, validator: ServedStreamValidator) -> None:
        """Use `validator` (fed by the egress) instead of checking served chunks as OpenAI chunks."""


class DefaultTransactionRecorder(TransactionRecorder):
    """Records through an ObservabilityContext, rebuilding streamed responses incrementally.

    Served chunks are also checked against the egress invariants; a violation becomes a
    `stream.protocol_violation` event (recorded, not raised).
    """

    def __init__(
        self,
        observability: ObservabilityContext,
        *,
        policy_name: str = "",
        call_id: str | None = None,
        api: str | None = None,
    ) -> None:
        self.observability = observability
        self.policy_name = policy_name
        self.call_id = call_id
        self.api = api
        """The client-facing API (`chat`, `messages`, `responses`), when a proxy says so."""
        self.ingress = ResponseReconstructor()
        self.egress = ResponseReconstructor()
        self._validator: ServedStreamValidator | None = None
        self._model = ""
        self._is_streaming = False
        self._usage: JSONObject | None = None
        self._started_at = time.time()
        self._started = time.perf_counter()
        self._first_byte: float | None = None
        self._completed = False

    async def record_request(self, original: JSONObject, final: JSONObject) -> None:
        self._model = _text(final.get("model"))
        self._is_streaming = final.get("stream") is True
        messages = final.get("messages")
        await self.observability.emit_event(
            events.TRANSACTION_REQUEST_RECORDED,
            {
                "original_model": original.get("model"),
                "final_model": final.get("model"),
                "model": original.get("model"),
                "policy": self.policy_name,
                "call_id": self.call_id,
                "api": self.api,
                "process": process_id(),
                "is_streaming": self._is_streaming,
                "started_at": self._started_at,
                # An unchanged request is one object: scrubbed once, recorded twice.
                "original_request": original,
                "final_request": final,
            },
        )
        self.observability.add_span_attribute("request.model", self._model)
        self.observability.add_span_attribute(
            "request.message_count", len(messages) if isinstance(messages, list) else 0
        )

    async def record_unprocessed_request(self, request: JSONObject, model: str) -> None:
        self._model = model
        self._is_streaming = request.get("stream") is True
        await self.observability.emit_event(
            events.TRANSACTION_REQUEST_RECORDED,
            {
                "original_model": model,
                "final_model": None,
                "model": model,
                "policy": self.policy_name,
                "call_id": self.call_id,
                "api": self.api,
                "is_streaming": self._is_streaming,
                "started_at": self._started_at,
                "original_request": request,
                "final_request": None,
            },
        )

    def add_ingress_chunk(self, chunk: ModelResponseStream) -> None:
        self.ingress.add(chunk)

    def add_egress_chunk(self, chunk: ModelResponseStream) -> None:
        if self._first_byte is None:
            self._first_byte = time.perf_counter()
        self.egress.add(chunk)

    def add_ingress_text(self, text: str) -> None:
        self.ingress.add_text(text)

    def add_egress_text(self, text: str) -> None:
        if self._first_byte is None:
            self._first_byte = time.perf_counter()
        self.egress.add_text(text)

    def check_served_stream_with(self, validator: ServedStreamValidator) -> None:
        self._validator = validator

    async def finalize_streaming(self) -> None:
        self._is_streaming = True
        self._usage = self.ingress.usage
        # The same object twice when nothing changed: scrubbed once (see `scrub_secrets`).
        original, final = self.ingress.to_dict(), self.egress.to_dict()
        await self.observability.emit_event(
            events.TRANSACTION_STREAMING_RESPONSE_RECORDED,
            {
                "ingress_chunks": self.ingress.chunk_count,
                "egress_chunks": self.egress.chunk_count,
                "original_response": original,
                "final_response": original if final == original else final,
                "usage": self._usage,
            },
        )
        self.observability.record_metric("luthien.response.chunks.ingress", self.ingress.chunk_count)
        self.observability.record_metric("luthien.response.chunks.egress", self.egress.chunk_count)

    async def finalize_non_streaming(self, original: JSONObject, final: JSONObject) -> None:
        self._first_byte = time.perf_counter()
        usage = original.get("usage")
        self._usage = usage if isinstance(usage, dict) else None
        finish_reason = _finish_reason(final)
        await self.observability.emit_event(
            events.TRANSACTION_NON_STREAMING_RESPONSE_RECORDED,
            {
                "original_finish_reason": _finish_reason(original),
                "final_finish_reason": finish_reason,
                "original_response": original,
                "final_response": final,
                "usage": self._usage,
            },
        )
        if finish_reason:
            self.observability.add_span_attribute("response.finish_reason", finish_reason)

    async def record_completion(self, status: TerminalStatus, error: str | None = None) -> None:
        if self._completed:
            return
        self._completed = True
        if self.egress.chunk_count and status == "success":
            await self._record_violations()
        finished = time.perf_counter()
        ttfb = None if self._first_byte is None else (self._first_byte - self._started) * 1000
        await self.observability.emit_event(
            events.TRANSACTION_COMPLETED,
            {
                "status": status,
                "error": error,
                "model": self._model,
                "policy": self.policy_name,
                "call_id": self.call_id,
                "process": process_id(),
                "is_streaming": self._is_streaming,
                "started_at": self._started_at,
                "finished_at": time.time(),
                "time_to_first_byte_ms": ttfb,
                "duration_ms": (finished - self._started) * 1000,
                "usage": self._usage,
            },
        )
        duration_ms = (finished - self._started) * 1000
        attributes: dict[str, JSONValue] = {
            "luthien.status": status,
            "luthien.model": self._model,
            "luthien.policy": self.policy_name,
            "luthien.streaming": self._is_streaming,
            "luthien.duration_ms": duration_ms,
            "luthien.time_to_first_byte_ms": ttfb,
            "luthien.chunks.ingress": self.ingress.chunk_count,
            "luthien.chunks.egress": self.egress.chunk_count,
        }
        for key, value in attributes.items():
            self.observability.add_span_attribute(key, value)
        labels = {"status": status, "model": self._model, "streaming": str(self._is_streaming).lower()}
        self.observability.record_metric("luthien.transactions", 1, labels)
        self.observability.record_histogram("luthien.transaction.duration", duration_ms, labels)

    async def _record_violations(self) -> None:
        if self._validator is None:
            return
        violations = self._validator.finish()
        if violations:
            await self.observability.emit_event(
                events.STREAM_PROTOCOL_VIOLATION, {"violations": list[JSONValue](violations)}
            )


def _finish_reason(response: JSONObject) -> str | None:
    choices = response.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    reason = first.get("finish_reason") if isinstance(first, dict) else None
    return reason if isinstance(reason, str) else None


def _text(value: JSONValue) -> str:
    return value if isinstance(value, str) else ""
