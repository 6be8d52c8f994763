"""From recorded events to rows: the `events` row, and the `transactions` upsert each implies.

Upserts are order-tolerant and idempotent, so batches may be replayed: a late
`request_recorded` never downgrades a terminal status, and identity columns keep the first
value written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from luthien_litellm_plugin.observability import events
from luthien_litellm_plugin.observability.events import RecordedEvent

Dialect = Literal["postgres", "sqlite"]
JSON_COLUMNS = frozenset({"original_request", "final_request", "original_response", "final_response", "usage"})
TIME_COLUMNS = frozenset({"started_at", "finished_at"})


@dataclass(frozen=True)
class Upsert:
    """Columns to write for one kind of event: `replace` overwrite, `keep` fill only when empty."""

    replace: tuple[str, ...]
    keep: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.replace, *self.keep)


IDENTITY = ("call_id", "model", "policy", "is_streaming", "started_at")
UPSERTS: dict[str, Upsert] = {
    events.TRANSACTION_REQUEST_RECORDED: Upsert(replace=("original_request", "final_request"), keep=IDENTITY),
    events.TRANSACTION_STREAMING_RESPONSE_RECORDED: Upsert(
        replace=("original_response", "final_response"), keep=("usage",)
    ),
    events.TRANSACTION_NON_STREAMING_RESPONSE_RECORDED: Upsert(
        replace=("original_response", "final_response"), keep=("usage",)
    ),
    events.TRANSACTION_COMPLETED: Upsert(
        replace=("status", "error", "finished_at", "time_to_first_byte_ms", "duration_ms"),
        keep=(*IDENTITY, "usage"),
    ),
}


def upsert_sql(upsert: Upsert, dialect: Dialect, table: str) -> str:
    columns = ("transaction_id", *upsert.columns)
    values = ", ".join(_placeholder(column, position, dialect) for position, column in enumerate(columns, 1))
    assignments = [f"{c} = excluded.{c}" for c in upsert.replace]
    assignments += [f"{c} = COALESCE({table}.{c}, excluded.{c})" for c in upsert.keep]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT (transaction_id) DO UPDATE SET {', '.join(assignments)}"
    )


def events_sql(dialect: Dialect, table: str) -> str:
    columns = ("event_id", "transaction_id", "sequence", "event_type", "payload", "created_at")
    kinds = {"payload": "json", "created_at": "time"}
    values = ", ".join(
        _placeholder(kinds.get(column, column), position, dialect) for position, column in enumerate(columns, 1)
    )
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) ON CONFLICT (event_id) DO NOTHING"


def _placeholder(column: str, position: int, dialect: Dialect) -> str:
    if dialect == "sqlite":
        return "?"
    if column in JSON_COLUMNS or column == "json":
        return f"${position}::jsonb"
    if column in TIME_COLUMNS or column == "time":
        return f"to_timestamp(${position})"
    return f"${position}"


def event_row(event: RecordedEvent) -> tuple[object, ...]:
    payload = json.dumps(event.payload, default=str)
    return (event.event_id, event.transaction_id, event.sequence, event.event_type, payload, event.created_at)


def upsert_row(event: RecordedEvent, upsert: Upsert, dialect: Dialect) -> tuple[object, ...]:
    return (event.transaction_id, *(_value(event.payload.get(c), c, dialect) for c in upsert.columns))


def _value(value: object, column: str, dialect: Dialect) -> object:
    if column in JSON_COLUMNS:
        return None if value is None else json.dumps(value, default=str)
    if column == "is_streaming" and dialect == "sqlite" and isinstance(value, bool):
        return int(value)
    return value
