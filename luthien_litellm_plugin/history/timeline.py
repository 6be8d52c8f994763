"""A transaction's events as a timeline: offsets from its start and one line saying what happened."""

from __future__ import annotations

import json
from dataclasses import dataclass

from luthien_litellm_plugin import events
from luthien_litellm_plugin.history.records import (
    JUDGE_VERDICT,
    ROUTE_REFUSED,
    ROUTE_UNPOLICED,
    EventRecord,
    TransactionRecord,
)
from luthien_litellm_plugin.types import JSONObject

BODY_KEYS = frozenset({"original_request", "final_request", "original_response", "final_response"})
"""Payload keys holding whole requests and responses (shown by the diff, not in the timeline)."""


@dataclass(frozen=True)
class TimelineEntry:
    sequence: int
    event_type: str
    at_ms: float
    """Milliseconds after the transaction started."""
    description: str
    payload: JSONObject
    """The event's payload without the request and response bodies."""

    def to_json(self) -> JSONObject:
        return {
            "sequence": self.sequence,
            "event_type": self.event_type,
            "at_ms": self.at_ms,
            "description": self.description,
            "payload": self.payload,
        }


def timeline(record: TransactionRecord) -> list[TimelineEntry]:
    start = record.row.started_at
    if start is None and record.events:
        start = record.events[0].created_at
    return [
        TimelineEntry(
            sequence=event.sequence,
            event_type=event.event_type,
            at_ms=round((event.created_at - (start or event.created_at)) * 1000, 3),
            description=describe(event),
            payload={key: value for key, value in event.payload.items() if key not in BODY_KEYS},
        )
        for event in record.events
    ]


def describe(event: EventRecord) -> str:
    """One line for an event; unknown event types list their payload's scalar fields."""
    payload = event.payload
    kind = event.event_type
    if kind == events.TRANSACTION_REQUEST_RECORDED:
        streaming = "streaming" if payload.get("is_streaming") else "not streaming"
        model = payload.get("original_model")
        routed = payload.get("final_model")
        to = f" → {routed}" if routed and routed != model else ""
        return f"request recorded: {payload.get('api') or 'chat'}, {model}{to}, {streaming}"
    if kind == events.TRANSACTION_STREAMING_RESPONSE_RECORDED:
        return f"response recorded: {payload.get('ingress_chunks')} chunks in, {payload.get('egress_chunks')} out"
    if kind == events.TRANSACTION_NON_STREAMING_RESPONSE_RECORDED:
        before, after = payload.get("original_finish_reason"), payload.get("final_finish_reason")
        finish = f"{before} → {after}" if before != after else f"{after}"
        return f"response recorded: finish {finish}"
    if kind == events.TRANSACTION_COMPLETED:
        line = f"{payload.get('status')} after {_ms(payload.get('duration_ms'))}"
        if payload.get("time_to_first_byte_ms") is not None:
            line += f", first byte at {_ms(payload.get('time_to_first_byte_ms'))}"
        return line + (f": {payload['error']}" if payload.get("error") else "")
    if kind == JUDGE_VERDICT:
        verdict = "blocked" if payload.get("blocked") else "allowed"
        details = [f"p={payload['probability']}" if payload.get("probability") is not None else None]
        details += [_ms(payload.get("latency_ms")) if payload.get("latency_ms") is not None else None]
        details += ["cached" if payload.get("cached") else None]
        shown = ", ".join(d for d in details if d)
        reason = payload.get("reason") or payload.get("explanation")
        judge = " ".join(str(part) for part in ("judge", payload.get("judge_model")) if part)
        return (
            f"{judge} on {payload.get('tool_name')}: {verdict}"
            + (f" ({shown})" if shown else "")
            + (f": {reason}" if reason else "")
        )
    if kind == ROUTE_REFUSED:
        return f"route {payload.get('route')} ({payload.get('call_type')}) refused: {payload.get('reason')}"
    if kind == ROUTE_UNPOLICED:
        return f"route {payload.get('route')} ({payload.get('call_type')}) allowed without a policy (unpoliced_routes)"
    if kind == events.STREAM_PROTOCOL_VIOLATION:
        violations = payload.get("violations")
        return "stream protocol violation: " + "; ".join(map(str, violations if isinstance(violations, list) else []))
    return f"{kind}: {_scalars(payload)}" if payload else kind


def _ms(value: object) -> str:
    if not isinstance(value, int | float):
        return "?"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def _scalars(payload: JSONObject) -> str:
    shown = {key: value for key, value in payload.items() if not isinstance(value, dict | list)}
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in shown.items())
