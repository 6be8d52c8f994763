"""Events stored without their bodies get them back from the transaction's columns; events stored
with them (written before bodies were stored once) keep their own."""

from __future__ import annotations

import json

from luthien_litellm_plugin import events
from luthien_litellm_plugin.history.reader import _record
from luthien_litellm_plugin.history.records import EventRecord

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
EDITED = {"model": "m", "messages": [{"role": "user", "content": "edited"}]}


def row() -> dict[str, object]:
    return {
        "transaction_id": "t1",
        "original_request": json.dumps(REQUEST),
        "final_request": json.dumps(EDITED),
        "original_response": None,
        "final_response": None,
    }


def event(payload: dict[str, object], event_type: str = events.TRANSACTION_REQUEST_RECORDED) -> EventRecord:
    return EventRecord(event_id="e", sequence=0, event_type=event_type, created_at=1.0, payload=payload)  # type: ignore[arg-type]


def test_an_event_stored_without_its_bodies_gets_them_from_the_row() -> None:
    [restored] = _record(row(), [event({"model": "m"})]).events
    assert restored.payload == {"model": "m", "original_request": REQUEST, "final_request": EDITED}


def test_an_event_stored_with_its_bodies_keeps_its_own() -> None:
    legacy = {"model": "m", "original_request": {"kept": True}, "final_request": None}
    [restored] = _record(row(), [event(legacy)]).events
    assert restored.payload == legacy


def test_other_events_are_left_as_stored() -> None:
    verdict = {"policy": "judge", "blocked": True}
    [restored] = _record(row(), [event(verdict, "policy.judge_verdict")]).events
    assert restored.payload == verdict
