from __future__ import annotations

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.streaming.channel import Channel
from luthien_litellm_plugin.streaming.egress import EgressStream
from tests.streams import assert_valid_egress, chunk, finish_reasons, served_tool_calls, usage_chunk


def egress() -> tuple[EgressStream, Channel[ModelResponseStream], list[ModelResponseStream]]:
    out: Channel[ModelResponseStream] = Channel()
    observed: list[ModelResponseStream] = []
    return EgressStream(out, observed.append), out, observed


async def drain(out: Channel[ModelResponseStream]) -> list[ModelResponseStream]:
    out.close()
    return [item async for item in out]


async def test_role_only_chunk_is_held_until_content_and_role_added_when_missing() -> None:
    stream, out, _ = egress()
    role_only = chunk("", role="assistant")
    stream.put_nowait(role_only)
    assert not stream.started
    stream.put_nowait(chunk("text"))
    stream.finish("stop")
    served = await drain(out)
    assert served[0] is role_only and served[1].choices[0].delta.content == "text"
    bare, bare_out, _ = egress()
    bare.put_nowait(chunk("no role"))
    bare.finish("stop")
    first = (await drain(bare_out))[0]
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == "no role"


async def test_finish_is_sent_once_after_everything_then_usage() -> None:
    stream, out, observed = egress()
    stream.put_nowait(chunk("a", role="assistant", finish_reason="length"))
    stream.put_nowait(usage_chunk())
    stream.put_nowait(chunk("b"))
    stream.finish("stop")
    served = await drain(out)
    assert [c.choices[0].delta.content if c.choices else "usage" for c in served] == ["a", "b", None, "usage"]
    assert finish_reasons(served) == ["length"]
    assert observed == served
    assert_valid_egress(served)


async def test_tool_calls_are_reindexed_in_emission_order_when_one_is_dropped() -> None:
    stream, out, _ = egress()
    stream.put_nowait(chunk(tool_call=(1, "call_b", "b", '{"x"'), role="assistant"))
    stream.put_nowait(chunk(tool_call=(1, None, None, ": 2}")))
    stream.put_nowait(chunk(tool_call=(2, "call_c", "c", "{}")))
    stream.finish("tool_calls")
    served = await drain(out)
    assert [c.choices[0].delta.tool_calls[0].index for c in served[:3]] == [0, 0, 1]  # type: ignore[index]
    assert served_tool_calls(served) == [
        {"id": "call_b", "name": "b", "arguments": '{"x": 2}'},
        {"id": "call_c", "name": "c", "arguments": "{}"},
    ]
    assert finish_reasons(served) == ["tool_calls"]
    assert_valid_egress(served)


async def test_tool_calls_finish_becomes_stop_when_no_tool_call_was_served() -> None:
    stream, out, _ = egress()
    stream.put_nowait(chunk("replaced", role="assistant"))
    stream.put_nowait(chunk(finish_reason="tool_calls"))
    stream.finish("tool_calls")
    served = await drain(out)
    assert finish_reasons(served) == ["stop"]
    assert_valid_egress(served)


async def test_function_call_finish_becomes_stop_when_the_function_call_was_dropped() -> None:
    stream, out, _ = egress()
    stream.put_nowait(chunk("replaced", role="assistant"))
    stream.finish("function_call")
    served = await drain(out)
    assert finish_reasons(served) == ["stop"]
    assert_valid_egress(served)


async def test_an_empty_stream_still_gets_a_role_and_a_finish() -> None:
    stream, out, _ = egress()
    stream.finish(None)
    served = await drain(out)
    assert len(served) == 1 and served[0].choices[0].delta.role == "assistant"
    assert finish_reasons(served) == ["stop"]


async def test_upstream_chunks_are_never_mutated() -> None:
    stream, out, _ = egress()
    original = chunk("x", finish_reason="stop")
    before = original.model_dump()
    stream.put_nowait(original)
    stream.finish("stop")
    await drain(out)
    assert original.model_dump() == before
