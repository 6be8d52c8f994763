"""A realistic transaction's events, as the recorder emits them."""

from __future__ import annotations

import time

from luthien_litellm_plugin.observability import events
from luthien_litellm_plugin.observability.events import RecordedEvent


def transaction_events(transaction_id: str, status: str = "success") -> list[RecordedEvent]:
    now = time.time()
    request = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    response = {"choices": [{"message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}]}
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    payloads = [
        (
            events.TRANSACTION_REQUEST_RECORDED,
            {
                "original_request": request,
                "final_request": request,
                "model": "gpt-4o",
                "policy": "shout",
                "call_id": "call-1",
                "is_streaming": True,
                "started_at": now,
            },
        ),
        (
            events.TRANSACTION_STREAMING_RESPONSE_RECORDED,
            {
                "original_response": response,
                "final_response": response,
                "usage": usage,
                "ingress_chunks": 3,
                "egress_chunks": 2,
            },
        ),
        (
            events.TRANSACTION_COMPLETED,
            {
                "status": status,
                "error": None if status == "success" else "boom",
                "model": "gpt-4o",
                "policy": "shout",
                "call_id": "call-1",
                "is_streaming": True,
                "started_at": now,
                "finished_at": now + 0.5,
                "time_to_first_byte_ms": 12.5,
                "duration_ms": 500.0,
                "usage": usage,
            },
        ),
    ]
    return [RecordedEvent(transaction_id, kind, payload, sequence=i) for i, (kind, payload) in enumerate(payloads)]
