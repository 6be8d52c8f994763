"""The Responses wire-rule validator: what it accepts, and each rule it enforces."""

from __future__ import annotations

import copy

import pytest

from luthien_litellm_plugin.streaming.responses_validator import validate_responses_stream
from luthien_litellm_plugin.types import JSONObject
from tests.responses_streams import client_view, interleaved, upstream_events


def stream(scenario: str) -> list[JSONObject]:
    return [client_view(e) for e in upstream_events(scenario)]


def renumbered(events: list[JSONObject]) -> list[JSONObject]:
    return [{**event, "sequence_number": i} for i, event in enumerate(events)]


@pytest.mark.parametrize(
    "scenario", ["text", "tool_calls", "parallel_tool_calls", "tool_only", "thinking", "max_tokens"]
)
def test_the_fake_upstreams_streams_are_valid(scenario: str) -> None:
    assert validate_responses_stream(stream(scenario)) == []


def test_items_open_at_the_same_time_are_valid() -> None:
    assert validate_responses_stream([client_view(e) for e in interleaved(upstream_events("tool_calls"))]) == []


def violations(events: list[JSONObject]) -> str:
    found = validate_responses_stream(events)
    assert found, "expected a violation"
    return "\n".join(found)


def test_a_gap_in_sequence_numbers() -> None:
    events = stream("text")
    del events[4]
    assert "sequence_number" in violations(events)


def test_an_item_at_the_wrong_output_index() -> None:
    events = stream("tool_only")
    second = next(
        i for i, e in enumerate(events) if e["type"] == "response.output_item.added" and e["output_index"] == 1
    )
    events = renumbered([e if e.get("output_index") != 1 else {**e, "output_index": 2} for e in events])
    assert "output_index 2, expected 1" in violations(events[: second + 1] + events[second + 1 :])


def test_done_text_that_disagrees_with_the_deltas() -> None:
    events = stream("text")
    done = next(i for i, e in enumerate(events) if e["type"] == "response.output_text.done")
    events[done] = {**events[done], "text": "something else"}
    assert "output_text.done disagrees" in violations(events)


def test_completed_output_that_is_not_what_was_served() -> None:
    events = stream("tool_only")
    last = copy.deepcopy(events[-1])
    last["response"]["output"] = last["response"]["output"][:1]  # type: ignore[index]
    assert "is not what was served" in violations([*events[:-1], last])


def test_completed_without_usage_and_with_the_wrong_status() -> None:
    events = stream("text")
    last = copy.deepcopy(events[-1])
    last["response"].update(usage=None, status="in_progress")  # type: ignore[union-attr]
    found = violations([*events[:-1], last])
    assert "without usage" in found and "with status in_progress" in found


def test_a_delta_after_its_item_was_done_and_events_after_the_end() -> None:
    events = stream("text")
    delta = next(e for e in events if e["type"] == "response.output_text.delta")
    found = violations(renumbered([*events[:-1], delta, events[-1], events[-1]]))
    assert "after its item was done" in found and "after the stream ended" in found


def test_a_stream_without_its_ending_or_its_beginning() -> None:
    events = stream("text")
    assert "without response.completed" in violations(events[:-1])
    assert "before response.created" in violations(renumbered(events[1:]))


def test_completed_while_an_item_is_open() -> None:
    events = stream("text")
    assert "while an output item is open" in violations(renumbered([*events[:-2], events[-1]]))
