"""The stored LiteLLM chunk fixtures: they rebuild exactly, agree with LiteLLM's non-streaming
result, and still match what the installed LiteLLM produces live (a LiteLLM upgrade that changes
chunk shapes fails here; regenerate with `python -m tests.fixtures.generate_chunks`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
import pytest
from litellm.types.utils import ChatCompletionDeltaToolCall, Choices, ModelResponse, ModelResponseStream

from tests.fakes import FakeUpstream
from tests.fixtures.chunk_fixtures import FIXTURE_NAMES, load_chunks, load_expected, load_fixture
from tests.fixtures.generate_chunks import capture_expected, capture_fixture

VOLATILE_KEYS = frozenset({"id", "created", "system_fingerprint"})
REGENERATE = "regenerate with `python -m tests.fixtures.generate_chunks`"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream.running() as running:
        yield running


def masked(value: Any) -> Any:
    """The value with ids and timestamps replaced by a marker (their presence still counts)."""
    if isinstance(value, dict):
        return {k: ("<volatile>" if k in VOLATILE_KEYS and v is not None else masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def assemble(chunks: list[ModelResponseStream]) -> dict[str, Any]:
    """A minimal client-side assembly: text, reasoning, tool calls by index, finish reason, usage."""
    text, reasoning, finish, usage = "", "", None, None
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        usage = getattr(chunk, "usage", None) or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                assert isinstance(call, ChatCompletionDeltaToolCall)
                entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] = entry["id"] or call.id or ""
                entry["name"] = entry["name"] or call.function.name or ""
                entry["arguments"] += call.function.arguments or ""
    return {
        "text": text,
        "reasoning": reasoning,
        "tool_calls": [calls[i] for i in sorted(calls)],
        "finish": finish,
        "usage": usage,
    }


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_stored_chunks_rebuild_exactly(name: str) -> None:
    stored = load_fixture(name)["chunks"]
    rebuilt = load_chunks(name)
    assert all(isinstance(chunk, ModelResponseStream) for chunk in rebuilt)
    assert json.loads(json.dumps([chunk.model_dump() for chunk in rebuilt])) == stored


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_chunks_assemble_to_litellm_non_streaming_result(name: str) -> None:
    expected = load_expected(name)
    got = assemble(load_chunks(name))
    assert got["text"] == (expected["text"] or "")
    assert got["tool_calls"] == expected["tool_calls"]  # the fake gives both requests the same ids
    assert got["finish"] == expected["finish_reason"]
    assert got["reasoning"] == (expected["reasoning_content"] or "")
    assert got["usage"] is not None
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert getattr(got["usage"], key) == expected["usage"][key]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_litellm_stream_chunk_builder_agrees(name: str) -> None:
    expected = load_expected(name)
    built = litellm.stream_chunk_builder(load_chunks(name), messages=load_fixture(name)["messages"])
    assert isinstance(built, ModelResponse)
    choice = built.choices[0]
    assert isinstance(choice, Choices)
    assert (choice.message.content or "") == (expected["text"] or "")
    calls = [
        {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}  # type: ignore[union-attr]
        for c in choice.message.tool_calls or []
    ]
    assert calls == expected["tool_calls"]
    assert choice.finish_reason == expected["finish_reason"]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("name", FIXTURE_NAMES)
async def test_live_chunks_match_the_stored_fixture(upstream: FakeUpstream, name: str) -> None:
    stored = load_fixture(name)
    live = await capture_fixture(upstream.base_url, name)
    note = f"LiteLLM {live['litellm_version']} (fixture from {stored['litellm_version']}): {REGENERATE}"
    assert len(live["chunks"]) == len(stored["chunks"]), note
    for index, (now, then) in enumerate(zip(live["chunks"], stored["chunks"], strict=True)):
        assert masked(now) == masked(then), f"chunk {index} of {name} changed; {note}"


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("name", FIXTURE_NAMES)
async def test_live_non_streaming_result_matches_expected(upstream: FakeUpstream, name: str) -> None:
    assert masked(await capture_expected(upstream.base_url, name)) == masked(load_expected(name)), REGENERATE
