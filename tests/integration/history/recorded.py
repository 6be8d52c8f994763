"""Transactions written through the real stores, the way the recorder's events build them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from luthien_litellm_plugin import events
from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.types import JSONObject, JSONValue


def chat_response(
    text: str | None, tool_calls: Sequence[tuple[str, str, str]] = (), finish: str = "stop"
) -> JSONObject:
    message: JSONObject = {"role": "assistant", "content": text}
    if tool_calls:
        calls: list[JSONValue] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, name, arguments in tool_calls
        ]
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }


@dataclass
class Recorded:
    """One transaction to record; `events()` gives what the recorder would emit for it."""

    model: str = "gpt-4o"
    policy: str = "passthrough"
    api: str = "chat"
    status: str = "success"
    started_at: float = 1_800_000_000.0
    duration_ms: float = 100.0
    prompt: str = "hello"
    final_prompt: str | None = None
    original_response: JSONObject | None = field(default_factory=lambda: chat_response("Hi there."))
    final_response: JSONObject | None = field(default_factory=lambda: chat_response("Hi there."))
    error: str | None = None
    extra_events: list[tuple[str, JSONObject]] = field(default_factory=list)
    transaction_id: str = field(default_factory=lambda: os.urandom(16).hex())

    def events(self) -> list[RecordedEvent]:
        identity: JSONObject = {
            "model": self.model,
            "policy": self.policy,
            "call_id": f"call-{self.transaction_id[:8]}",
            "is_streaming": True,
            "started_at": self.started_at,
        }
        original_request: JSONObject = {"model": self.model, "messages": [{"role": "user", "content": self.prompt}]}
        final_request: JSONObject = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.final_prompt or self.prompt}],
        }
        kinds: list[tuple[str, JSONObject]] = [
            (
                events.TRANSACTION_REQUEST_RECORDED,
                {**identity, "api": self.api, "original_request": original_request, "final_request": final_request},
            ),
            *self.extra_events,
        ]
        if self.original_response is not None:
            kinds.append(
                (
                    events.TRANSACTION_STREAMING_RESPONSE_RECORDED,
                    {
                        "original_response": self.original_response,
                        "final_response": self.final_response,
                        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
                        "ingress_chunks": 4,
                        "egress_chunks": 4,
                    },
                )
            )
        kinds.append(
            (
                events.TRANSACTION_COMPLETED,
                {
                    **identity,
                    "status": self.status,
                    "error": self.error,
                    "finished_at": self.started_at + self.duration_ms / 1000,
                    "time_to_first_byte_ms": self.duration_ms / 2,
                    "duration_ms": self.duration_ms,
                },
            )
        )
        return [
            RecordedEvent(self.transaction_id, kind, payload, created_at=self.started_at + i * 0.01, sequence=i)
            for i, (kind, payload) in enumerate(kinds)
        ]
