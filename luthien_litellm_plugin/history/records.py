"""What reading recordings back gives: rows, whole transactions with their events, summaries."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from luthien_litellm_plugin.history.timespec import iso
from luthien_litellm_plugin.types import JSONObject, JSONValue

STATUSES = ("started", "success", "blocked", "error", "cancelled", "timeout")
ERROR_STATUSES = ("error", "timeout")
"""Statuses a summary counts as errors."""
APIS = ("chat", "messages", "responses")

JUDGE_VERDICT = "policy.judge_verdict"
ROUTE_REFUSED = "route.refused"
ROUTE_UNPOLICED = "route.unpoliced"


@dataclass(frozen=True)
class TransactionFilter:
    """Which transactions to read. Every field left None matches everything."""

    model: str | None = None
    policy: str | None = None
    status: str | None = None
    api: str | None = None
    since: float | None = None
    """Started at or after (seconds since the epoch)."""
    until: float | None = None
    """Started before."""
    text: str | None = None
    """Free text, case-insensitive, in the original or final request or response, or the error;
    or a transaction id / LiteLLM call id."""
    changed: bool | None = None
    """True: the policy changed the request or the response; False: it changed neither."""


@dataclass(frozen=True)
class TransactionRow:
    """One transaction as a list shows it."""

    transaction_id: str
    call_id: str | None
    model: str | None
    policy: str | None
    api: str | None
    status: str
    is_streaming: bool | None
    started_at: float | None
    finished_at: float | None
    duration_ms: float | None
    time_to_first_byte_ms: float | None
    request_changed: bool
    response_changed: bool
    error: str | None
    """The first 500 characters of the error."""
    usage: JSONObject | None
    prompt_preview: str | None
    """The start of the request's last message."""
    response_preview: str | None
    """The start of the text the client received."""

    @property
    def changed(self) -> bool:
        return self.request_changed or self.response_changed

    def to_json(self) -> JSONObject:
        return {
            "transaction_id": self.transaction_id,
            "call_id": self.call_id,
            "model": self.model,
            "policy": self.policy,
            "api": self.api,
            "status": self.status,
            "is_streaming": self.is_streaming,
            "started_at": self.started_at,
            "started_at_iso": iso(self.started_at),
            "finished_at": self.finished_at,
            "duration_ms": self.duration_ms,
            "time_to_first_byte_ms": self.time_to_first_byte_ms,
            "changed": self.changed,
            "request_changed": self.request_changed,
            "response_changed": self.response_changed,
            "error": self.error,
            "usage": self.usage,
            "prompt_preview": self.prompt_preview,
            "response_preview": self.response_preview,
        }

    @classmethod
    def from_row(cls, row: dict[str, object]) -> TransactionRow:
        return cls(
            transaction_id=str(row["transaction_id"]),
            call_id=_str(row.get("call_id")),
            model=_str(row.get("model")),
            policy=_str(row.get("policy")),
            api=_str(row.get("api")),
            status=str(row.get("status") or "started"),
            is_streaming=None if row.get("is_streaming") is None else bool(row["is_streaming"]),
            started_at=_float(row.get("started_at")),
            finished_at=_float(row.get("finished_at")),
            duration_ms=_float(row.get("duration_ms")),
            time_to_first_byte_ms=_float(row.get("time_to_first_byte_ms")),
            request_changed=bool(row.get("request_changed")),
            response_changed=bool(row.get("response_changed")),
            error=_str(row.get("error_head")),
            usage=json_object(row.get("usage")),
            prompt_preview=_str(row.get("prompt_preview")),
            response_preview=_str(row.get("response_preview")),
        )


@dataclass(frozen=True)
class EventRecord:
    """One recorded event of a transaction."""

    event_id: str
    sequence: int
    event_type: str
    created_at: float
    payload: JSONObject

    def to_json(self) -> JSONObject:
        return {
            "event_id": self.event_id,
            "sequence": self.sequence,
            "event_type": self.event_type,
            "created_at": self.created_at,
            "payload": self.payload,
        }

    @classmethod
    def from_row(cls, row: dict[str, object]) -> EventRecord:
        sequence = row.get("sequence")
        return cls(
            event_id=str(row["event_id"]),
            sequence=sequence if isinstance(sequence, int) else 0,
            event_type=str(row["event_type"]),
            created_at=_float(row.get("created_at")) or 0.0,
            payload=json_object(row.get("payload")) or {},
        )


@dataclass(frozen=True)
class TransactionRecord:
    """One whole transaction: its row, what went in and out, and its events in order."""

    row: TransactionRow
    original_request: JSONObject | None
    final_request: JSONObject | None
    original_response: JSONObject | None
    final_response: JSONObject | None
    error: str | None
    events: list[EventRecord] = field(default_factory=list)

    def events_of(self, event_type: str) -> list[EventRecord]:
        return [event for event in self.events if event.event_type == event_type]

    def to_json(self) -> JSONObject:
        """Everything recorded, JSON-ready (the export format)."""
        transaction = self.row.to_json()
        transaction.update(
            {
                "error": self.error,
                "original_request": self.original_request,
                "final_request": self.final_request,
                "original_response": self.original_response,
                "final_response": self.final_response,
            }
        )
        events: list[JSONValue] = [event.to_json() for event in self.events]
        return {"transaction": transaction, "events": events}


@dataclass(frozen=True)
class Page:
    """Transactions newest first; `next_before` continues the list (None: no more)."""

    rows: list[TransactionRow]
    next_before: str | None


@dataclass(frozen=True)
class GroupStats:
    """Counts and durations of one group of transactions (a policy, a model, or all).

    The counts do not overlap: `changed` counts transactions the client received changed
    (blocked ones and errors are counted as such only); `errors` counts `error` and `timeout`."""

    key: str | None
    transactions: int = 0
    blocked: int = 0
    changed: int = 0
    errors: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None

    def to_json(self) -> JSONObject:
        return {
            "key": self.key,
            "transactions": self.transactions,
            "blocked": self.blocked,
            "changed": self.changed,
            "errors": self.errors,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
        }


@dataclass(frozen=True)
class Bucket:
    """Counts of the transactions started in [start, start + bucket_seconds)."""

    start: float
    transactions: int
    blocked: int
    changed: int
    errors: int

    def to_json(self) -> JSONObject:
        return {
            "start": self.start,
            "transactions": self.transactions,
            "blocked": self.blocked,
            "changed": self.changed,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class Summary:
    """A window's transactions per policy and per model, and over time."""

    since: float
    until: float
    bucket_seconds: int
    timeline_start: float
    """Start of the first bucket: `since` rounded down to a multiple of `bucket_seconds`."""
    totals: GroupStats
    by_policy: list[GroupStats]
    by_model: list[GroupStats]
    timeline: list[Bucket]

    def to_json(self) -> JSONObject:
        return {
            "since": self.since,
            "until": self.until,
            "since_iso": iso(self.since),
            "until_iso": iso(self.until),
            "bucket_seconds": self.bucket_seconds,
            "timeline_start": self.timeline_start,
            "totals": self.totals.to_json(),
            "by_policy": [group.to_json() for group in self.by_policy],
            "by_model": [group.to_json() for group in self.by_model],
            "timeline": [bucket.to_json() for bucket in self.timeline],
        }


def json_object(value: object) -> JSONObject | None:
    """A JSON column's value as an object (None for NULL or anything that is not an object)."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _float(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None
