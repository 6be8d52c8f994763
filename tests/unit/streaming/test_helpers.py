"""The helpers policies decide and send with, run through the engine's policy stream."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.observability.context import NoOpObservabilityContext
from luthien_litellm_plugin.orchestration.policy_stream import PolicyStream
from luthien_litellm_plugin.policies.all_caps import AllCapsPolicy
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.streaming.anthropic_ingress import SourceEvent
from luthien_litellm_plugin.streaming.anthropic_sse import SSEEvent
from luthien_litellm_plugin.streaming.assembler import StreamingChunkAssembler
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock, ToolCallStreamBlock
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.streaming.egress import EgressStream
from luthien_litellm_plugin.streaming.forwarded import ForwardedText
from luthien_litellm_plugin.streaming.helpers import (
    drop_block,
    get_last_ingress_chunk,
    passthrough_accumulated_chunks,
    passthrough_block,
    send_text,
    send_tool_call,
)
from luthien_litellm_plugin.streaming.holds import Holds
from luthien_litellm_plugin.streaming.release import Release
from luthien_litellm_plugin.types import ToolCall
from tests.streams import assert_valid_egress, chunk, request, served_text, served_tool_calls

TEXT_THEN_CALLS = [
    chunk("Let me check.", role="assistant"),
    chunk(tool_call=(0, "call_a", "get_weather", '{"loc": "Paris"}')),
    chunk(tool_call=(1, "call_b", "bash", '{"command": ')),
    chunk(tool_call=(1, None, None, '"ls"}')),
    chunk(finish_reason="tool_calls"),
]


def policy_stream(policy: Policy) -> PolicyStream[ModelResponseStream]:
    def context(assembler: StreamingChunkAssembler, release: Release, holds: Holds) -> StreamingResponseContext:
        return StreamingResponseContext(
            "t", request(), assembler.state, release, holds, scratchpad={}, observability=NoOpObservabilityContext("t")
        )

    return PolicyStream(policy, EgressStream(lambda c: None), context, lambda c: None)


async def run(policy: Policy, chunks: Sequence[ModelResponseStream]) -> list[list[ModelResponseStream]]:
    """What the client could be sent after each upstream chunk, then at the end."""
    stream = policy_stream(policy)
    released: list[list[ModelResponseStream]] = []
    for item in chunks:
        await stream.feed(item)
        released.append(stream.take())
    await stream.close()
    stream.finish()
    released.append(stream.take())
    assert_valid_egress([c for step in released for c in step])
    return released


def flat(released: list[list[ModelResponseStream]]) -> list[ModelResponseStream]:
    return [c for step in released for c in step]


async def test_a_replaced_tool_call_is_replaced_in_its_place() -> None:
    class ReplaceBash(Policy):
        async def on_tool_call_complete(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
            if block.name == "bash":
                await drop_block(ctx, block)
                await send_tool_call(ctx, ToolCall(id="call_safe", name="echo", arguments="{}"))

    served = flat(await run(ReplaceBash(), TEXT_THEN_CALLS))
    assert served_text(served) == "Let me check."
    assert served_tool_calls(served) == [
        {"id": "call_a", "name": "get_weather", "arguments": '{"loc": "Paris"}'},
        {"id": "call_safe", "name": "echo", "arguments": "{}"},
    ]


async def test_a_held_text_block_holds_back_what_follows_it_then_goes_first() -> None:
    class Shout(Policy):  # owns text only: tool calls pass as they stream, but never overtake the text
        async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
            await send_text(ctx, block.content.upper())
            await drop_block(ctx, block)

    released = await run(Shout(), TEXT_THEN_CALLS)
    assert released[0] == []  # the text is held
    assert served_text(released[1]) == "LET ME CHECK."  # then goes out, before the tool call's chunk
    assert released[1][-1].choices[0].delta.tool_calls
    assert served_tool_calls(flat(released))[1]["name"] == "bash"


async def test_text_streams_while_a_delta_hook_replaces_it() -> None:
    class Echo(Policy):
        async def on_content_delta(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
            await send_text(ctx, f"<{block.last_delta}>")

        async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
            await drop_block(ctx, block)

    released = await run(Echo(), [chunk("a", role="assistant"), chunk("b"), chunk(finish_reason="stop")])
    assert [served_text(step) for step in released] == ["<a>", "<b>", "", ""]


async def test_passthrough_accumulated_chunks_forwards_each_chunk_once() -> None:
    class Twice(Policy):
        async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
            await passthrough_accumulated_chunks(ctx)
            await passthrough_accumulated_chunks(ctx)
            assert get_last_ingress_chunk(ctx) is ctx.ingress_state.raw_chunks[-1]

    chunks = [chunk("a", role="assistant"), chunk("b"), chunk(finish_reason="stop")]
    served = flat(await run(Twice(), chunks))
    assert served[:2] == chunks[:2] and served_text(served) == "ab"


async def test_interleaved_calls_one_dropped_the_other_served_whole() -> None:
    class NoBash(Policy):
        async def on_tool_call_complete(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
            if block.name == "bash":
                await drop_block(ctx, block)
            else:
                await passthrough_block(ctx, block)

    interleaved = [
        chunk(tool_call=(0, "call_b", "bash", ""), role="assistant"),
        chunk(tool_call=(1, "call_w", "get_weather", "")),
        chunk(tool_call=(0, None, None, '{"command": ')),
        chunk(tool_call=(1, None, None, '{"loc": ')),
        chunk(tool_call=(0, None, None, '"rm -rf /"}')),
        chunk(tool_call=(1, None, None, '"Paris"}')),
        chunk(finish_reason="tool_calls"),
    ]
    served = flat(await run(NoBash(), interleaved))
    assert served_tool_calls(served) == [{"id": "call_w", "name": "get_weather", "arguments": '{"loc": "Paris"}'}]
    assert "rm -rf" not in str([c.model_dump() for c in served])


async def test_text_that_skipped_chunk_building_never_reaches_a_policy_that_reads_the_stream() -> None:
    delta = ForwardedText(SourceEvent(SSEEvent("content_block_delta", "{}", b""), {}), "hi", _no_chunk)
    with pytest.raises(TypeError, match="reads the stream"):
        await policy_stream(AllCapsPolicy()).feed(delta)


def _no_chunk(delta: ForwardedText) -> ModelResponseStream:
    raise AssertionError("not asked for")
