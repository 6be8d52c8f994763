from __future__ import annotations

import pytest
from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.errors import UnsupportedStreamError
from luthien_litellm_plugin.streaming.egress import EgressStream
from tests.streams import assert_valid_egress, chunk, finish_reasons, served_tool_calls, usage_chunk


def egress() -> tuple[EgressStream, list[ModelResponseStream]]:
    observed: list[ModelResponseStream] = []
    return EgressStream(observed.append), observed


def test_role_only_chunk_is_held_until_content_and_role_added_when_missing() -> None:
    stream, _ = egress()
    role_only = chunk("", role="assistant")
    stream.put(role_only, built=False)
    assert not stream.started and stream.take() == []
    stream.put(chunk("text"), built=False)
    stream.finish("stop")
    served = stream.take()
    assert served[0] is role_only and served[1].choices[0].delta.content == "text"
    bare, _ = egress()
    bare.put(chunk("no role"), built=False)
    bare.finish("stop")
    first = bare.take()[0]
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == "no role"


def test_finish_is_sent_once_after_everything_then_usage() -> None:
    stream, observed = egress()
    stream.put(chunk("a", role="assistant", finish_reason="length"), built=False)
    stream.put(usage_chunk(), built=False)
    stream.put(chunk("b"), built=False)
    stream.finish("stop")
    served = stream.take()
    assert [c.choices[0].delta.content if c.choices else "usage" for c in served] == ["a", "b", None, "usage"]
    assert finish_reasons(served) == ["length"]
    assert observed == served
    assert_valid_egress(served)


def test_tool_calls_are_reindexed_in_emission_order_when_one_is_dropped() -> None:
    stream, _ = egress()
    stream.put(chunk(tool_call=(1, "call_b", "b", '{"x"'), role="assistant"), built=False)
    stream.put(chunk(tool_call=(1, None, None, ": 2}")), built=False)
    stream.put(chunk(tool_call=(2, "call_c", "c", "{}")), built=False)
    stream.finish("tool_calls")
    served = stream.take()
    assert [c.choices[0].delta.tool_calls[0].index for c in served[:3]] == [0, 0, 1]  # type: ignore[index]
    assert served_tool_calls(served) == [
        {"id": "call_b", "name": "b", "arguments": '{"x": 2}'},
        {"id": "call_c", "name": "c", "arguments": "{}"},
    ]
    assert finish_reasons(served) == ["tool_calls"]
    assert_valid_egress(served)


def test_interleaved_upstream_calls_keep_their_deltas_apart_after_a_drop() -> None:
    """Calls 0 and 1 interleave upstream; 0 was dropped: 1's id-less deltas follow it to index 0."""
    stream, _ = egress()
    stream.put(chunk(tool_call=(1, "call_b", "bash", ""), role="assistant"), built=False)
    stream.put(chunk(tool_call=(1, None, None, '{"command": ')), built=False)
    stream.put(chunk(tool_call=(0, "call_new", "note", "{}")), built=True)  # the policy's own call
    stream.put(chunk(tool_call=(1, None, None, '"ls"}')), built=False)
    stream.finish("tool_calls")
    served = stream.take()
    assert served_tool_calls(served) == [
        {"id": "call_b", "name": "bash", "arguments": '{"command": "ls"}'},
        {"id": "call_new", "name": "note", "arguments": "{}"},
    ]
    assert_valid_egress(served)


def test_a_tool_call_never_starts_without_its_id_and_name() -> None:
    stream, _ = egress()
    with pytest.raises(UnsupportedStreamError, match="without its id and name"):
        stream.put(chunk(tool_call=(3, None, None, '"late": 1}'), role="assistant"), built=False)


def test_tool_calls_finish_becomes_stop_when_no_tool_call_was_served() -> None:
    stream, _ = egress()
    stream.put(chunk("replaced", role="assistant"), built=True)
    stream.put(chunk(finish_reason="tool_calls"), built=False)
    stream.finish("tool_calls")
    served = stream.take()
    assert finish_reasons(served) == ["stop"]
    assert_valid_egress(served)


def test_function_call_finish_becomes_stop_when_the_function_call_was_dropped() -> None:
    stream, _ = egress()
    stream.put(chunk("replaced", role="assistant"), built=True)
    stream.finish("function_call")
    served = stream.take()
    assert finish_reasons(served) == ["stop"]
    assert_valid_egress(served)


def test_an_empty_stream_still_gets_a_role_and_a_finish() -> None:
    stream, _ = egress()
    stream.finish(None)
    served = stream.take()
    assert len(served) == 1 and served[0].choices[0].delta.role == "assistant"
    assert finish_reasons(served) == ["stop"]


def test_upstream_chunks_are_never_mutated() -> None:
    stream, _ = egress()
    original = chunk("x", finish_reason="stop")
    before = original.model_dump()
    stream.put(original, built=False)
    stream.finish("stop")
    stream.take()
    assert original.model_dump() == before
