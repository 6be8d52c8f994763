from __future__ import annotations

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.observability.context import NoOpObservabilityContext
from luthien_litellm_plugin.streaming.channel import Channel
from luthien_litellm_plugin.streaming.egress import EgressStream
from luthien_litellm_plugin.streaming.helpers import (
    drop_block,
    get_last_ingress_chunk,
    passthrough_accumulated_chunks,
    send_text,
    send_tool_call,
)
from luthien_litellm_plugin.streaming.stream_state import StreamState
from luthien_litellm_plugin.streaming.streaming_chunk_assembler import StreamingChunkAssembler
from luthien_litellm_plugin.streaming.streaming_response_context import StreamingResponseContext
from luthien_litellm_plugin.types import ToolCall
from tests.streams import chunk, request


async def nothing(item: ModelResponseStream, state: StreamState, ctx: StreamingResponseContext) -> None:
    return None


def context() -> tuple[StreamingResponseContext, Channel[ModelResponseStream]]:
    out: Channel[ModelResponseStream] = Channel()
    ctx = StreamingResponseContext(
        transaction_id="t",
        final_request=request(),
        ingress_assembler=StreamingChunkAssembler(on_chunk_callback=nothing),
        egress_queue=EgressStream(out, lambda c: None),
        scratchpad={},
        observability=NoOpObservabilityContext("t"),
    )
    return ctx, out


async def drain(ctx: StreamingResponseContext, out: Channel[ModelResponseStream]) -> list[ModelResponseStream]:
    ctx.egress_queue.finish(ctx.ingress_state.finish_reason)
    out.close()
    return [c async for c in out]


async def test_passthrough_accumulated_holds_the_open_block_and_never_repeats() -> None:
    ctx, out = context()
    assembler = ctx.ingress_assembler
    assert assembler is not None
    first, second = chunk("a", role="assistant"), chunk(tool_call=(0, "c", "f", "{"))
    await assembler.feed(first, ctx)
    await assembler.feed(second, ctx)  # text block completes, tool block opens
    await passthrough_accumulated_chunks(ctx)
    await passthrough_accumulated_chunks(ctx)
    assert ctx.ingress_state.last_emission_index == 1
    assert get_last_ingress_chunk(ctx) is second
    served = await drain(ctx, out)
    assert served[0] is first and len([c for c in served if c is first]) == 1
    assert all(c is not second for c in served)


async def test_drop_block_skips_its_chunks_and_send_helpers_add_new_ones() -> None:
    ctx, out = context()
    assembler = ctx.ingress_assembler
    assert assembler is not None
    for item in (
        chunk(tool_call=(0, "c", "bash", "{")),
        chunk(tool_call=(0, None, None, "}")),
        chunk(finish_reason="tool_calls"),
    ):
        await assembler.feed(item, ctx)
    block = ctx.ingress_state.blocks[0]
    await drop_block(ctx, block)
    await send_text(ctx, "replaced")
    await send_tool_call(ctx, ToolCall(id="new", name="safe", arguments="{}"))
    await passthrough_accumulated_chunks(ctx)
    served = await drain(ctx, out)
    assert [c.choices[0].delta.content for c in served if c.choices and c.choices[0].delta.content] == ["replaced"]
    calls = [c.choices[0].delta.tool_calls[0] for c in served if c.choices and c.choices[0].delta.tool_calls]
    assert [(call.id, call.function.name, call.index) for call in calls] == [("new", "safe", 0)]
    assert ctx.ingress_state.last_emission_index == 3
