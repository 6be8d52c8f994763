"""A transaction's events as the engine emits them, for every terminal status."""

from __future__ import annotations

import time

from luthien_litellm_plugin import events
from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.types import JSONObject

TERMINAL_STATUSES = ("success", "blocked", "error", "cancelled", "timeout")
REQUEST: JSONObject = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
FINAL_REQUEST: JSONObject = {"model": "gpt-4o", "messages": [{"role": "user", "content": "HI"}]}
ORIGINAL_RESPONSE: JSONObject = {
    "choices": [{"message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}]
}
FINAL_RESPONSE: JSONObject = {
    "choices": [{"message": {"role": "assistant", "content": "HELLO"}, "finish_reason": "stop"}]
}
USAGE: JSONObject = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def transaction_events(
    transaction_id: str, status: str = "success", *, streaming: bool = True, process: str = "4242-0123456789abcdef"
) -> list[RecordedEvent]:
    """request_recorded, a policy event, response_recorded (unless blocked), completed."""
    started = time.time()
    identity: JSONObject = {
        "model": "gpt-4o",
        "policy": "shout",
        "call_id": f"call-{transaction_id}",
        "process": process,
        "is_streaming": streaming,
        "started_at": started,
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": "b7ad6b7169203331",
    }
    kinds: list[tuple[str, JSONObject]] = [
        (
            events.TRANSACTION_REQUEST_RECORDED,
            {
                **identity,
                "original_request": REQUEST,
                "final_request": FINAL_REQUEST,
                "original_model": "gpt-4o",
                "final_model": "gpt-4o",
            },
        ),
        ("policy.request_modified", {"policy": "shout", "changed": ["messages"]}),
    ]
    if status != "blocked":
        response: JSONObject = {
            "original_response": ORIGINAL_RESPONSE,
            "final_response": FINAL_RESPONSE,
            "usage": USAGE,
        }
        if streaming:
            kind = events.TRANSACTION_STREAMING_RESPONSE_RECORDED
            response.update({"ingress_chunks": 3, "egress_chunks": 3})
        else:
            kind = events.TRANSACTION_NON_STREAMING_RESPONSE_RECORDED
            response.update({"original_finish_reason": "stop", "final_finish_reason": "stop"})
        kinds.append((kind, response))
    kinds.append(
        (
            events.TRANSACTION_COMPLETED,
            {
                **identity,
                "status": status,
                "error": None if status == "success" else f"{status}: details",
                "finished_at": started + 0.5,
                "time_to_first_byte_ms": None if status == "blocked" else 12.5,
                "duration_ms": 500.0,
                "usage": None if status == "blocked" else USAGE,
            },
        )
    )
    return [
        RecordedEvent(transaction_id, kind, payload, created_at=started + i / 100, sequence=i)
        for i, (kind, payload) in enumerate(kinds)
    ]


def many_transactions(count: int, prefix: str = "t") -> list[RecordedEvent]:
    """`count` transactions' events, transaction after transaction, statuses in turn."""
    return [
        event
        for index in range(count)
        for event in transaction_events(f"{prefix}{index}", TERMINAL_STATUSES[index % len(TERMINAL_STATUSES)])
    ]
