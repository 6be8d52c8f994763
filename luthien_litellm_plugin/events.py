"""Recorded events and the sink interface they are handed to.

`ObservabilityContext.emit_event` builds a `RecordedEvent` and calls `EventSink.submit`, which
must return at once without awaiting I/O. Durable sinks (database, Redis) buffer and write in
the background; see `luthien_litellm_plugin.storage`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Protocol

from luthien_litellm_plugin.types import JSONObject

TRANSACTION_REQUEST_RECORDED = "transaction.request_recorded"
TRANSACTION_STREAMING_RESPONSE_RECORDED = "transaction.streaming_response_recorded"
TRANSACTION_NON_STREAMING_RESPONSE_RECORDED = "transaction.non_streaming_response_recorded"
TRANSACTION_COMPLETED = "transaction.completed"
STREAM_PROTOCOL_VIOLATION = "stream.protocol_violation"
ROUTE_REFUSED = "route.refused"
"""A request on a route the plugin does not cover (or an ambiguous model name), refused."""
ROUTE_UNPOLICED = "route.unpoliced"
"""A request on a route the operator allowed without a policy (`unpoliced_routes`)."""
DEPLOYMENT_REFUSED = "deployment.refused"
"""An attempt to call a deployment whose policy differs from the one the request ran under."""
PROCESS_EXITED = "process.exited"
"""A process is gone (found by the spool of a later start): its transactions still `started`
are closed as `error`. Payload: `process`, `error`; it belongs to no transaction (`transaction_id` "")."""
PROCESS_EXITED_ERROR = "process exited before the transaction completed"
POLICY_JUDGE_VERDICT = "policy.judge_verdict"
"""A policy's LLM judge decided about one tool call or text block (`policies.judging.JudgeVerdict`)."""


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One event of one transaction, ready to leave the process (secrets already removed)."""

    transaction_id: str
    event_type: str
    payload: JSONObject
    created_at: float = field(default_factory=time.time)
    """Seconds since the epoch."""
    sequence: int = 0
    """Position of the event within its transaction (0, 1, 2, ...): orders events per transaction."""
    event_id: str = field(default_factory=lambda: os.urandom(16).hex())
    """Globally unique; sinks use it to make writes idempotent."""

    def as_record(self) -> JSONObject:
        """The event as one JSON object (spool lines, the JSON-lines sink, the Redis feed)."""
        return {
            "event_id": self.event_id,
            "transaction_id": self.transaction_id,
            "sequence": self.sequence,
            "event_type": self.event_type,
            "created_at": self.created_at,
            "payload": self.payload,
        }

    @classmethod
    def from_record(cls, record: JSONObject) -> RecordedEvent:
        payload, created_at, sequence = record["payload"], record["created_at"], record["sequence"]
        if not isinstance(payload, dict) or not isinstance(created_at, int | float) or not isinstance(sequence, int):
            raise ValueError(f"not a recorded event: {record!r}")
        return cls(
            transaction_id=str(record["transaction_id"]),
            event_type=str(record["event_type"]),
            payload=payload,
            created_at=float(created_at),
            sequence=sequence,
            event_id=str(record["event_id"]),
        )


class EventSink(Protocol):
    """Receives events on the request path. `submit` must not block or await I/O."""

    def submit(self, event: RecordedEvent) -> None: ...


class InMemoryEventSink:
    """Keeps every submitted event in a list (tests, library use)."""

    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []

    def submit(self, event: RecordedEvent) -> None:
        self.events.append(event)

    def of_type(self, event_type: str) -> list[RecordedEvent]:
        return [event for event in self.events if event.event_type == event_type]

    def for_transaction(self, transaction_id: str) -> list[RecordedEvent]:
        return [event for event in self.events if event.transaction_id == transaction_id]


class FanOutEventSink:
    """Submits each event to several sinks in turn."""

    def __init__(self, sinks: list[EventSink]) -> None:
        self._sinks = list(sinks)

    def submit(self, event: RecordedEvent) -> None:
        for sink in self._sinks:
            sink.submit(event)
