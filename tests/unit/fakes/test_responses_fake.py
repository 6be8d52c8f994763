"""The fake Responses API upstream, checked with the official openai SDK (its stream accumulator is strict)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import openai
import pytest

from luthien_litellm_plugin.streaming.responses_validator import validate_responses_stream
from tests.fakes import LEAD_IN, TEXT, THINKING, THINKING_SIGNATURE, FakeUpstream, Options, build_scenario
from tests.fakes.responses_upstream import STREAM_ERROR, TOOL_RESULT_ANSWER
from tests.fakes.scenarios import DISCONNECT_AFTER, PROMPT_TOKENS, text_chunks
from tests.unit.fakes.test_fakes import http_chunks

OK = ("text", "tool_calls", "parallel_tool_calls", "tool_only", "thinking")
EXPECTED_TEXT = {"text": TEXT, "thinking": TEXT, "tool_calls": LEAD_IN, "parallel_tool_calls": LEAD_IN, "tool_only": ""}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream.running() as running:
        yield running


def client(upstream: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{upstream.base_url}/v1", api_key="sk-fake", max_retries=0, timeout=10)


def expected_calls(scenario: str) -> list[tuple[str, str]]:
    return [(c.name, c.arguments) for c in build_scenario(Options(scenario), "responses").tool_calls]


def calls_of(response: Any) -> list[tuple[str, str]]:
    return [(item.name, item.arguments) for item in response.output if item.type == "function_call"]


@pytest.mark.parametrize("scenario", OK)
def test_stream_accumulates_to_the_non_streamed_response(upstream: FakeUpstream, scenario: str) -> None:
    sdk = client(upstream)
    include: Any = ["reasoning.encrypted_content"]
    with sdk.responses.stream(model="gpt-fake", input=f"hi scenario:{scenario}", include=include) as stream:
        streamed = stream.get_final_response()
    whole = sdk.responses.create(model="gpt-fake", input=f"hi scenario:{scenario}", include=include)
    for response in (streamed, whole):
        assert response.status == "completed" and response.model == "gpt-fake"
        assert response.output_text == EXPECTED_TEXT[scenario]
        assert calls_of(response) == expected_calls(scenario)
        assert response.usage is not None and response.usage.input_tokens == PROMPT_TOKENS
    assert (streamed.id, [i.id for i in streamed.output]) == (whole.id, [i.id for i in whole.output])  # same ids
    if scenario == "thinking":
        reasoning = streamed.output[0]
        assert reasoning.type == "reasoning" and reasoning.encrypted_content == THINKING_SIGNATURE
        assert [s.text for s in reasoning.summary] == [THINKING]
    assert all(item.call_id.startswith("call_") for item in streamed.output if item.type == "function_call")


@pytest.mark.parametrize("scenario", [*OK, "max_tokens"])
def test_raw_events_follow_the_wire_rules(upstream: FakeUpstream, scenario: str) -> None:
    events = list(client(upstream).responses.create(model="m", input=f"scenario:{scenario}", stream=True))
    data = [event.model_dump(exclude_unset=True) for event in events]
    assert validate_responses_stream(data) == []
    assert [e["sequence_number"] for e in data] == list(range(len(data)))
    ending = "response.incomplete" if scenario == "max_tokens" else "response.completed"
    assert [e["type"] for e in data][:2] == ["response.created", "response.in_progress"] and data[-1]["type"] == ending
    if scenario == "max_tokens":
        assert data[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_writes_are_cut_across_events_unless_asked(upstream: FakeUpstream) -> None:
    payload = {"model": "m", "stream": True, "input": "scenario:tool_calls"}
    coalesced = http_chunks(upstream, "/v1/responses", payload)
    names = [line for line in coalesced[0].decode().split("\n") if line.startswith("event: ")]
    assert names[0] == "event: response.created" and names[-1] == "event: response.output_text.delta"
    assert any(not chunk.endswith(b"\n\n") for chunk in coalesced)
    aligned = http_chunks(upstream, "/v1/responses", {**payload, "input": "scenario:tool_calls writes:aligned"})
    assert all(chunk.endswith(b"\n\n") and chunk.count(b"event: ") == 1 for chunk in aligned)
    assert b"".join(aligned).count(b"event: ") == b"".join(coalesced).count(b"event: ") > 20


def test_errors(upstream: FakeUpstream) -> None:
    sdk = client(upstream)
    with pytest.raises(openai.InternalServerError):
        sdk.responses.create(model="m", input="scenario:error_500")
    partial = "".join(text_chunks()[:DISCONNECT_AFTER])
    for scenario, kind in (("error_event", "error"), ("failed", "response.failed")):
        events = list(sdk.responses.create(model="m", input=f"scenario:{scenario}", stream=True))
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert text == partial and events[-1].type == kind
        error = events[-1].response.error if kind == "response.failed" else events[-1]
        assert (error.code, error.message) == (STREAM_ERROR["code"], STREAM_ERROR["message"])
    with pytest.raises(openai.APIConnectionError):
        list(sdk.responses.create(model="m", input="scenario:disconnect", stream=True))
    assert upstream.requests[-1].outcome == "aborted"


def test_stored_and_background_responses_are_fetched_by_id(upstream: FakeUpstream) -> None:
    sdk = client(upstream)
    queued = sdk.responses.create(model="m", input="scenario:tool_only", background=True)
    assert queued.status == "queued" and queued.output == []
    fetched = sdk.responses.retrieve(queued.id)
    assert fetched.status == "completed" and calls_of(fetched) == expected_calls("tool_only")
    unstored = sdk.responses.create(model="m", input="scenario:text", store=False)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(unstored.id)


def test_the_turn_after_a_tool_call_is_answered_with_text(upstream: FakeUpstream) -> None:
    sdk = client(upstream)
    first = sdk.responses.create(model="m", input="scenario:tool_calls")
    [call] = [item for item in first.output if item.type == "function_call"]
    follow_up: Any = [
        {"role": "user", "content": "scenario:tool_calls"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"temperature": 21})},
    ]
    second = sdk.responses.create(model="m", input=follow_up)
    assert second.output_text == TOOL_RESULT_ANSWER and calls_of(second) == []


def test_seed_knob_gives_the_same_bytes_every_time(upstream: FakeUpstream) -> None:
    payload = {"model": "m", "stream": True, "input": "scenario:text seed:s1"}
    first, second = (b"".join(http_chunks(upstream, "/v1/responses", payload)) for _ in range(2))
    assert first == second
    unseeded = {**payload, "input": "scenario:text"}
    assert b"".join(http_chunks(upstream, "/v1/responses", unseeded)) != b"".join(
        http_chunks(upstream, "/v1/responses", unseeded)
    )
