"""From recorded events to rows: the `events` row, and the `transactions` upsert each event implies.

Upserts are order-tolerant and idempotent, so batches may arrive late or be replayed: a
`request_recorded` applied after `completed` never downgrades the terminal status, and identity
columns (model, policy, …) keep the first value written.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from luthien_litellm_plugin import events
from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.types import JSONObject

Dialect = Literal["postgres", "sqlite"]
Row = tuple[object, ...]

JSON_COLUMNS = frozenset({"original_request", "final_request", "original_response", "final_response", "usage"})
TIME_COLUMNS = frozenset({"started_at", "finished_at"})
EVENT_COLUMNS = ("event_id", "transaction_id", "sequence", "event_type", "payload", "created_at")


@dataclass(frozen=True, slots=True)
class Upsert:
    """Columns one kind of event sets: `replace` overwrites, `keep` only fills an empty column."""

    replace: tuple[str, ...]
    keep: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.replace, *self.keep)


IDENTITY = ("call_id", "model", "policy", "process", "api", "is_streaming", "started_at")
_COLUMN_ORDER = (
    *IDENTITY,
    "status",
    "finished_at",
    "original_request",
    "final_request",
    "original_response",
    "final_response",
    "usage",
    "error",
    "time_to_first_byte_ms",
    "duration_ms",
)
_RESPONSE = Upsert(replace=("original_response", "final_response"), keep=("usage",))
UPSERTS: dict[str, Upsert] = {
    events.TRANSACTION_REQUEST_RECORDED: Upsert(replace=("original_request", "final_request"), keep=IDENTITY),
    events.TRANSACTION_STREAMING_RESPONSE_RECORDED: _RESPONSE,
    events.TRANSACTION_NON_STREAMING_RESPONSE_RECORDED: _RESPONSE,
    events.TRANSACTION_COMPLETED: Upsert(
        replace=("status", "error", "finished_at", "time_to_first_byte_ms", "duration_ms"),
        keep=(*IDENTITY, "usage"),
    ),
}

BODIES_BY_EVENT: dict[str, tuple[str, ...]] = {
    events.TRANSACTION_REQUEST_RECORDED: ("original_request", "final_request"),
    events.TRANSACTION_STREAMING_RESPONSE_RECORDED: ("original_response", "final_response"),
    events.TRANSACTION_NON_STREAMING_RESPONSE_RECORDED: ("original_response", "final_response"),
}
"""Whole requests and responses are stored once, in the transaction's columns: the `events` rows of
the events carrying them are written without them, and `history.reader` puts them back. (An agent's
long conversation, unchanged by its policy, used to be stored four times.)"""


def events_sql(dialect: Dialect, table: str) -> str:
    """Insert one `events` row; a replayed event (same `event_id`) is ignored."""
    kinds = {"payload": "json", "created_at": "time"}
    values = ", ".join(_placeholder(kinds.get(c, ""), i, dialect) for i, c in enumerate(EVENT_COLUMNS, 1))
    return f"INSERT INTO {table} ({', '.join(EVENT_COLUMNS)}) VALUES ({values}) ON CONFLICT (event_id) DO NOTHING"


def events_unnest_sql(table: str) -> str:
    """Postgres: insert a whole batch of `events` rows from one array per column (one statement,
    one round trip); replayed events (same `event_id`) are ignored."""
    return (
        f"INSERT INTO {table} ({', '.join(EVENT_COLUMNS)}) "
        "SELECT event_id, transaction_id, sequence, event_type, payload::jsonb, to_timestamp(created_at) "
        "FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::float8[]) "
        f"AS batch({', '.join(EVENT_COLUMNS)}) ON CONFLICT (event_id) DO NOTHING"
    )


@functools.cache
def upsert_sql(upsert: Upsert, dialect: Dialect, table: str) -> str:
    """Insert or update one `transactions` row with the columns of `upsert`."""
    columns = ("transaction_id", *upsert.columns)
    values = ", ".join(_placeholder(_kind(c), i, dialect) for i, c in enumerate(columns, 1))
    assignments = [f"{c} = excluded.{c}" for c in upsert.replace]
    assignments += [f"{c} = COALESCE({table}.{c}, excluded.{c})" for c in upsert.keep]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT (transaction_id) DO UPDATE SET {', '.join(assignments)}"
    )


def exited_processes(batch: Sequence[RecordedEvent]) -> list[tuple[str, str, float]]:
    """(process, error, time) of each `process.exited` event in the batch."""
    exited = []
    for event in batch:
        if event.event_type == events.PROCESS_EXITED:
            process, error = event.payload.get("process"), event.payload.get("error")
            if isinstance(process, str):
                exited.append((process, str(error or events.PROCESS_EXITED_ERROR), event.created_at))
    return exited


# Closing what a dead process left open. Only rows still `started` change, so running it twice, or
# from two workers at once, closes each transaction once; the `transaction.completed` event written
# for each has an id derived from the transaction's, so a retried batch cannot write it twice.


def sqlite_close_started_sql(transactions: str, events_table: str) -> tuple[str, str]:
    """(close the process's `started` rows, returning their ids; write one's completion event).
    Parameters: ?1 process / transaction id, ?2 error, ?3 finished_at (epoch seconds) / process, ?4 time."""
    close = (
        f"UPDATE {transactions} SET status = 'error', error = ?2, finished_at = ?3 "
        "WHERE process = ?1 AND status = 'started' RETURNING transaction_id"
    )
    completion = (
        f"INSERT INTO {events_table} (event_id, transaction_id, sequence, event_type, payload, created_at) "
        f"SELECT ?1 || ':process-exited', ?1, COALESCE(MAX(sequence) + 1, 0), '{events.TRANSACTION_COMPLETED}', "
        "json_object('status', 'error', 'error', ?2, 'process', ?3, 'finished_at', ?4), ?4 "
        f"FROM {events_table} WHERE transaction_id = ?1 ON CONFLICT (event_id) DO NOTHING"
    )
    return close, completion


def postgres_close_started_sql(transactions: str, events_table: str) -> str:
    """Both steps in one statement: $1 process, $2 error, $3 finished_at (epoch seconds)."""
    next_sequence = f"(SELECT MAX(e.sequence) + 1 FROM {events_table} e WHERE e.transaction_id = closed.transaction_id)"
    return (
        f"WITH closed AS (UPDATE {transactions} SET status = 'error', error = $2, finished_at = to_timestamp($3) "
        "WHERE process = $1 AND status = 'started' RETURNING transaction_id) "
        f"INSERT INTO {events_table} (event_id, transaction_id, sequence, event_type, payload, created_at) "
        "SELECT closed.transaction_id || ':process-exited', closed.transaction_id, "
        f"COALESCE({next_sequence}, 0), "
        f"'{events.TRANSACTION_COMPLETED}', "
        "jsonb_build_object('status', 'error', 'error', $2::text, 'process', $1::text, 'finished_at', $3::float8), "
        "to_timestamp($3) FROM closed ON CONFLICT (event_id) DO NOTHING"
    )


class JsonTexts:
    """The JSON text of a batch's values, each container encoded once.

    A request (or response) a policy left unchanged is one object recorded as both original
    and final, in the event's payload and again in the transaction's columns: four copies of
    what may be a long agent conversation. Each is encoded once per batch here and the text
    reused. Containers are known by identity, which is stable while the batch's events hold them.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect: Dialect = dialect
        self._texts: dict[int, str] = {}

    def value(self, value: object) -> str:
        if not isinstance(value, dict | list):
            return _json(value, self.dialect)
        text = self._texts.get(id(value))
        if text is None:
            text = self._texts[id(value)] = _json(value, self.dialect)
        return text

    def payload(self, payload: JSONObject) -> str:
        """`payload` as `_json` would write it: its members' texts joined (each value a whole JSON
        value, so no escape spans two parts)."""
        if not all(type(key) is str for key in payload):  # the encoder's own key coercion
            return _json(payload, self.dialect)
        members = ",".join(f"{_json(key, self.dialect)}:{self.value(value)}" for key, value in payload.items())
        return f"{{{members}}}"


def batch_rows(batch: Sequence[RecordedEvent], dialect: Dialect) -> tuple[list[Row], dict[Upsert, list[Row]]]:
    """The batch's `events` rows and `transactions` upserts, each value encoded once."""
    texts = JsonTexts(dialect)
    return [event_row(event, dialect, texts) for event in batch], transaction_upserts(batch, dialect, texts)


def event_row(event: RecordedEvent, dialect: Dialect, texts: JsonTexts | None = None) -> Row:
    """The event's `events` row; the bodies it carries are left out (see `BODIES_BY_EVENT`)."""
    bodies = BODIES_BY_EVENT.get(event.event_type, ())
    stored = {key: value for key, value in event.payload.items() if key not in bodies} if bodies else event.payload
    payload = (texts or JsonTexts(dialect)).payload(stored)
    return (
        _text(event.event_id, dialect),
        _text(event.transaction_id, dialect),
        event.sequence,
        _text(event.event_type, dialect),
        payload,
        event.created_at,
    )


def upsert_row(event: RecordedEvent, upsert: Upsert, dialect: Dialect, texts: JsonTexts | None = None) -> Row:
    payload, texts = event.payload, texts or JsonTexts(dialect)
    return (_text(event.transaction_id, dialect), *(_value(payload.get(c), c, texts) for c in upsert.columns))


def transaction_upserts(
    batch: Sequence[RecordedEvent], dialect: Dialect, texts: JsonTexts | None = None
) -> dict[Upsert, list[Row]]:
    """The batch's `transactions` upserts, one per transaction: the events of one transaction in
    the batch (request, response, completed) are merged into a single row, which is what applying
    them one after the other would give. Grouped by the resulting column set (one `executemany`
    each). A transaction with two events of the same kind falls back to one row per event."""
    texts = texts or JsonTexts(dialect)
    per_transaction: dict[str, list[RecordedEvent]] = {}
    for event in batch:
        if event.event_type in UPSERTS:
            per_transaction.setdefault(event.transaction_id, []).append(event)
    grouped: dict[Upsert, list[Row]] = {}
    for transaction_events in per_transaction.values():
        kinds = [UPSERTS[event.event_type] for event in transaction_events]
        if len(set(kinds)) < len(kinds):
            for event, upsert in zip(transaction_events, kinds, strict=True):
                grouped.setdefault(upsert, []).append(upsert_row(event, upsert, dialect, texts))
            continue
        upsert, row = _merge(transaction_events, kinds, texts)
        grouped.setdefault(upsert, []).append(row)
    return grouped


def _merge(batch: list[RecordedEvent], kinds: list[Upsert], texts: JsonTexts) -> tuple[Upsert, Row]:
    replaced: dict[str, object] = {}
    kept: dict[str, object] = {}
    for event, upsert in zip(batch, kinds, strict=True):
        for column in upsert.replace:
            replaced[column] = event.payload.get(column)
        for column in upsert.keep:  # the first value wins, as COALESCE(existing, new) would
            if kept.get(column) is None:
                kept[column] = event.payload.get(column)
    replace = tuple(c for c in _COLUMN_ORDER if c in replaced)
    keep = tuple(c for c in _COLUMN_ORDER if c in kept and c not in replaced)
    values = {**kept, **replaced}
    row = (_text(batch[0].transaction_id, texts.dialect), *(_value(values[c], c, texts) for c in (*replace, *keep)))
    return Upsert(replace=replace, keep=keep), row


def _kind(column: str) -> str:
    if column in JSON_COLUMNS:
        return "json"
    if column in TIME_COLUMNS:
        return "time"
    return ""


def _placeholder(kind: str, position: int, dialect: Dialect) -> str:
    if dialect == "sqlite":
        return "?"
    if kind == "json":
        return f"${position}::jsonb"
    if kind == "time":
        return f"to_timestamp(${position}::double precision)"
    return f"${position}"


def _value(value: object, column: str, texts: JsonTexts) -> object:
    dialect = texts.dialect
    if column in JSON_COLUMNS:
        return None if value is None else texts.value(value)
    if column == "is_streaming":
        if not isinstance(value, bool):
            return None
        return int(value) if dialect == "sqlite" else value
    if column in TIME_COLUMNS or column in ("time_to_first_byte_ms", "duration_ms"):
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if value is None:
        return None
    return _text(value if isinstance(value, str) else str(value), dialect)


# Postgres refuses NUL characters: in `text` ("invalid byte sequence") and in `jsonb` ("unsupported
# Unicode escape sequence"). They are replaced by U+FFFD; an escaped backslash before "u0000" is
# left alone (an even number of backslashes is not an escape).
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))


def _json(value: object, dialect: Dialect) -> str:
    text = _ENCODER.encode(value)
    if dialect == "postgres" and "\\u0000" in text:
        text = _JSON_NUL.sub(r"\1\\ufffd", text)
    return text


def _text(value: str, dialect: Dialect) -> str:
    return value.replace("\x00", "\ufffd") if dialect == "postgres" and "\x00" in value else value
