"""What a policy calls to emit: forward upstream chunks, drop them, or send new content.

Forwarding is cursor-based: `state.raw_chunks[state.last_emission_index:]` are the chunks no
decision has covered yet. Each helper advances the cursor, so no chunk is sent twice.
"""

from __future__ import annotations

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.streaming.chunks import create_text_chunk, create_tool_call_chunk
from luthien_litellm_plugin.streaming.stream_blocks import StreamBlock
from luthien_litellm_plugin.streaming.streaming_response_context import StreamingResponseContext
from luthien_litellm_plugin.types import ToolCall


async def send_text(ctx: StreamingResponseContext, text: str) -> None:
    """Send `text` to the client as a content delta."""
    if not text:
        raise ValueError("text must be non-empty")
    ctx.egress_queue.put_nowait(create_text_chunk(text, like=ctx.last_ingress_chunk))


async def send_chunk(ctx: StreamingResponseContext, chunk: ModelResponseStream) -> None:
    """Send a chunk the policy built (or an upstream chunk it already accounted for)."""
    ctx.egress_queue.put_nowait(chunk)


async def send_tool_call(ctx: StreamingResponseContext, tool_call: ToolCall) -> None:
    """Send a complete tool call as one chunk (its index is assigned on the way out)."""
    ctx.egress_queue.put_nowait(create_tool_call_chunk(tool_call, like=ctx.last_ingress_chunk))


def get_last_ingress_chunk(ctx: StreamingResponseContext) -> ModelResponseStream | None:
    """The most recent upstream chunk."""
    return ctx.last_ingress_chunk


async def passthrough_last_chunk(ctx: StreamingResponseContext) -> None:
    """Forward every not-yet-forwarded upstream chunk up to and including the latest one."""
    state = ctx.ingress_state
    _forward(ctx, len(state.raw_chunks))


async def passthrough_accumulated_chunks(ctx: StreamingResponseContext) -> None:
    """Forward the chunks received since the last decision, up to the block still open.

    Chunks of a block that is still streaming stay held: a policy decides on a block once it
    is complete. Original chunks keep their timing and exact form when content is unchanged.
    """
    _forward(ctx, ctx.ingress_state.undecided_end)


async def drop_block(ctx: StreamingResponseContext, block: StreamBlock) -> None:
    """Forward what came before `block`, and never forward the chunks that carried it."""
    state = ctx.ingress_state
    _forward(ctx, block.start_index)
    state.last_emission_index = max(state.last_emission_index, block.end_index)


def _forward(ctx: StreamingResponseContext, end: int) -> None:
    state = ctx.ingress_state
    start = state.last_emission_index
    if end <= start:
        return
    put = ctx.egress_queue.put_nowait
    for chunk in state.raw_chunks[start:end]:
        put(chunk)
    state.last_emission_index = end
