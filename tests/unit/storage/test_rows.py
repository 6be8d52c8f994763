"""Events to rows: upsert semantics and values Postgres would refuse."""

from __future__ import annotations

import json

import pytest

from luthien_litellm_plugin import events
from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.storage import rows
from luthien_litellm_plugin.types import JSONObject


def test_request_upsert_never_touches_the_status() -> None:
    sql = rows.upsert_sql(rows.UPSERTS[events.TRANSACTION_REQUEST_RECORDED], "postgres", "luthien.transactions")
    assert "status" not in sql  # a late request event cannot downgrade a terminal status
    assert "model = COALESCE(luthien.transactions.model, excluded.model)" in sql
    assert "ON CONFLICT (transaction_id) DO UPDATE" in sql


def test_completed_upsert_sets_the_terminal_columns() -> None:
    upsert = rows.UPSERTS[events.TRANSACTION_COMPLETED]
    assert {"status", "error", "finished_at", "time_to_first_byte_ms", "duration_ms"} <= set(upsert.replace)
    assert {"model", "policy", "call_id", "is_streaming", "started_at", "usage"} <= set(upsert.keep)


def test_events_insert_is_idempotent() -> None:
    assert rows.events_sql("sqlite", "events").endswith("ON CONFLICT (event_id) DO NOTHING")


def test_nul_characters_are_replaced_for_postgres_only() -> None:
    event = RecordedEvent("t\x00", "x", {"text": "a\x00b", "literal": "\\u0000 stays"})
    _, transaction_id, _, _, payload, _ = rows.event_row(event, "postgres")
    assert transaction_id == "t\ufffd"
    assert json.loads(str(payload)) == {"text": "a\ufffdb", "literal": "\\u0000 stays"}
    assert json.loads(str(rows.event_row(event, "sqlite")[4]))["text"] == "a\x00b"


def test_upsert_values_are_typed_per_column() -> None:
    payload: JSONObject = {"is_streaming": True, "started_at": 12, "model": "m", "original_request": {"a": 1}}
    event = RecordedEvent("t1", events.TRANSACTION_REQUEST_RECORDED, payload)
    upsert = rows.UPSERTS[events.TRANSACTION_REQUEST_RECORDED]
    values = dict(zip(("transaction_id", *upsert.columns), rows.upsert_row(event, upsert, "sqlite"), strict=True))
    assert values["is_streaming"] == 1 and values["started_at"] == 12.0 and values["model"] == "m"
    assert json.loads(str(values["original_request"])) == {"a": 1} and values["final_request"] is None


def test_a_transactions_events_in_one_batch_become_one_upsert() -> None:
    request = RecordedEvent(
        "t1", events.TRANSACTION_REQUEST_RECORDED, {"model": "m", "original_request": {"q": 1}, "usage": None}
    )
    response = RecordedEvent(
        "t1", events.TRANSACTION_STREAMING_RESPONSE_RECORDED, {"final_response": {"a": 1}, "usage": {"n": 1}}
    )
    completed = RecordedEvent(
        "t1", events.TRANSACTION_COMPLETED, {"status": "error", "error": "x", "model": "other", "usage": {"n": 2}}
    )
    other = RecordedEvent("t2", events.TRANSACTION_REQUEST_RECORDED, {"model": "m2"})
    grouped = rows.transaction_upserts([request, other, response, completed, other], "sqlite")
    [(merged, [row])] = [(u, r) for u, r in grouped.items() if r[0][0] == "t1"]
    values = dict(zip(("transaction_id", *merged.columns), row, strict=True))
    assert values["status"] == "error" and values["error"] == "x"  # from completed (replace)
    assert values["model"] == "m"  # the first value, as applying the events in order would keep
    assert json.loads(str(values["usage"])) == {"n": 1}
    assert json.loads(str(values["final_response"])) == {"a": 1} and "status" in merged.replace
    # t2 has two request events in the batch: one row per event, never two in one statement
    assert [r[0] for rs in grouped.values() for r in rs].count("t2") == 2


LONG_REQUEST: JSONObject = {
    "model": "m",
    "messages": [{"role": "user", "content": f"turn {i} \x00 \\u0000 ünï 😀 sk-{'a' * 20}"} for i in range(50)],
}


def request_recorded(request: JSONObject, transaction_id: str = "t1") -> RecordedEvent:
    payload: JSONObject = {"model": "m", "is_streaming": True, "original_request": request, "final_request": request}
    return RecordedEvent(transaction_id, events.TRANSACTION_REQUEST_RECORDED, payload)


def test_a_batch_is_written_as_encoding_each_value_on_its_own_would_write_it() -> None:
    response: JSONObject = {"choices": [{"message": {"content": "hi \x00"}}], "usage": None}
    batch = [
        request_recorded(LONG_REQUEST),
        RecordedEvent(
            "t1",
            events.TRANSACTION_STREAMING_RESPONSE_RECORDED,
            {"original_response": response, "final_response": response, "usage": {"n": 1}},
        ),
        RecordedEvent("t1", events.TRANSACTION_COMPLETED, {"status": "success", "usage": {"n": 1}}),
        request_recorded({**LONG_REQUEST, "model": "other"}, "t2"),
        RecordedEvent("t3", "x", {1: "a non-string key", "nested": [[{"deep": None}]]}),  # type: ignore[dict-item]
        RecordedEvent("t4", "x", {}),
    ]
    for dialect in ("sqlite", "postgres"):
        event_rows, upserts = rows.batch_rows(batch, dialect)
        assert event_rows == [rows.event_row(event, dialect) for event in batch]
        assert upserts == rows.transaction_upserts(batch, dialect)
        for row in event_rows:  # and that is what the plain encoder writes, bodies left out
            event = next(e for e in batch if e.event_id == row[0])
            stored = {k: v for k, v in event.payload.items() if k not in rows.BODIES_BY_EVENT.get(event.event_type, ())}
            assert row[4] == rows._json(stored, dialect)


def test_events_are_stored_without_the_bodies_their_transaction_row_holds() -> None:
    event_rows, upserts = rows.batch_rows([request_recorded(LONG_REQUEST)], "sqlite")
    [(_, _, _, _, payload, _)] = event_rows
    assert json.loads(str(payload)) == {"model": "m", "is_streaming": True}
    [[row]] = upserts.values()
    assert row.count(rows._json(LONG_REQUEST, "sqlite")) == 2, "original and final, in the transaction's columns"


def test_a_request_recorded_as_original_and_final_is_encoded_once_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[object] = []
    encoder = rows._ENCODER

    class Counting:
        def encode(self, value: object) -> str:
            encoded.append(value)
            return encoder.encode(value)

    monkeypatch.setattr(rows, "_ENCODER", Counting())
    rows.batch_rows([request_recorded(LONG_REQUEST)], "sqlite")
    # once for the transaction's two columns, where it was four times
    assert sum(value is LONG_REQUEST for value in encoded) == 1
