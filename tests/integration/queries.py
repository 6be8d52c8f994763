"""Read back what the sinks wrote, normalised for comparison: JSON parsed, times as epoch seconds."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import redis.asyncio as redis

from luthien_litellm_plugin import events
from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.storage.redis_feed import STREAM_FIELD

JSON_COLUMNS = ("original_request", "final_request", "original_response", "final_response", "usage")
Row = dict[str, object]
TRANSACTION_COLUMNS = (
    "transaction_id",
    "call_id",
    "model",
    "policy",
    "process",
    "status",
    "is_streaming",
    *JSON_COLUMNS,
    "error",
    "time_to_first_byte_ms",
    "duration_ms",
)


async def postgres_events(dsn: str) -> list[Row]:
    connection = await asyncpg.connect(dsn)
    try:
        records = await connection.fetch(
            "SELECT event_id, transaction_id, sequence, event_type, payload::text AS payload,"
            " extract(epoch FROM created_at)::float8 AS created_at"
            " FROM luthien.events ORDER BY transaction_id, sequence"
        )
    finally:
        await connection.close()
    return [{**dict(r), "payload": json.loads(r["payload"])} for r in records]


async def postgres_transactions(dsn: str) -> dict[str, Row]:
    connection = await asyncpg.connect(dsn)
    try:
        records = await connection.fetch(
            f"SELECT {', '.join(TRANSACTION_COLUMNS)}, extract(epoch FROM started_at)::float8 AS started_at,"
            " extract(epoch FROM finished_at)::float8 AS finished_at FROM luthien.transactions"
        )
    finally:
        await connection.close()
    return {r["transaction_id"]: _normalise(dict(r)) for r in records}


def sqlite_events(path: Path) -> list[Row]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        records = db.execute("SELECT * FROM events ORDER BY transaction_id, sequence").fetchall()
    return [{**dict(r), "payload": json.loads(r["payload"])} for r in records]


def sqlite_transactions(path: Path) -> dict[str, Row]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        records = db.execute("SELECT * FROM transactions").fetchall()
    return {r["transaction_id"]: _normalise(dict(r)) for r in records}


async def stream_events(client: redis.Redis, stream: str) -> list[Row]:
    """The stream's entries, oldest first, as the JSON objects the feed wrote."""
    entries = await client.xrange(stream) or []
    return [json.loads(fields[STREAM_FIELD.encode()]) for _, fields in entries if fields is not None]


def _normalise(row: Row) -> Row:
    for column in JSON_COLUMNS:
        value = row[column]
        row[column] = None if value is None else json.loads(str(value))
    if row["is_streaming"] is not None:
        row["is_streaming"] = bool(row["is_streaming"])
    return row


BODY_KEYS = frozenset({"original_request", "final_request", "original_response", "final_response"})
"""Stored once, in the `transactions` row: the `events` rows hold the rest of each payload."""


def expected_events(submitted: Sequence[RecordedEvent]) -> list[Row]:
    rows = [
        {
            "event_id": e.event_id,
            "transaction_id": e.transaction_id,
            "sequence": e.sequence,
            "event_type": e.event_type,
            "payload": {k: v for k, v in e.payload.items() if k not in BODY_KEYS},
            "created_at": e.created_at,
        }
        for e in submitted
    ]
    return sorted(rows, key=lambda r: (str(r["transaction_id"]), int(str(r["sequence"]))))


def expected_transactions(submitted: Sequence[RecordedEvent]) -> dict[str, Row]:
    """The `transactions` rows the events of complete transactions must produce."""
    rows: dict[str, Row] = {}
    for event in submitted:
        row = rows.setdefault(
            event.transaction_id,
            {"transaction_id": event.transaction_id, "original_response": None, "final_response": None},
        )
        p = event.payload
        if event.event_type == events.TRANSACTION_REQUEST_RECORDED:
            row.update({k: p[k] for k in ("original_request", "final_request")})
        elif event.event_type in (
            events.TRANSACTION_STREAMING_RESPONSE_RECORDED,
            events.TRANSACTION_NON_STREAMING_RESPONSE_RECORDED,
        ):
            row.update({k: p[k] for k in ("original_response", "final_response")})
        elif event.event_type == events.TRANSACTION_COMPLETED:
            keys = (
                "status",
                "error",
                "model",
                "policy",
                "call_id",
                "process",
                "is_streaming",
                "started_at",
                "finished_at",
            )
            row.update({k: p[k] for k in (*keys, "time_to_first_byte_ms", "duration_ms", "usage")})
    return rows


def assert_same_rows(actual: dict[str, Row], expected: dict[str, Row]) -> None:
    assert set(actual) == set(expected)
    for transaction_id, want in expected.items():
        got = actual[transaction_id]
        for column, value in want.items():
            if column in ("started_at", "finished_at"):
                assert abs(float(str(got[column])) - float(str(value))) < 1e-3, (transaction_id, column)
            else:
                assert got[column] == value, (transaction_id, column, got[column], value)


def assert_same_events(actual: list[Row], submitted: Sequence[RecordedEvent]) -> None:
    expected = expected_events(submitted)
    assert [r["event_id"] for r in actual] == [r["event_id"] for r in expected]  # each exactly once
    for got, want in zip(actual, expected, strict=True):
        assert {k: got[k] for k in ("transaction_id", "sequence", "event_type", "payload")} == {
            k: want[k] for k in ("transaction_id", "sequence", "event_type", "payload")
        }
        assert abs(float(str(got["created_at"])) - float(str(want["created_at"]))) < 1e-3
