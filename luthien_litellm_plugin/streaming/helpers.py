"""What a policy calls to decide blocks and to send content of its own.

Upstream chunks go out in the order they arrived, each at most once. A block the policy
decides is held until it does; `passthrough_block` forwards it, `drop_block` drops it, and
anything sent from the block's hooks (`send_text`, `send_tool_call`) goes out in its place.
What a hook decided is released when the hook returns. `hold_block` decides a block later
(e.g. after an LLM judge answered) without holding up the rest of the stream.
"""

from __future__ import annotations

from collections.abc import Awaitable

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.chunks import create_text_chunk, create_tool_call_chunk
from luthien_litellm_plugin.streaming.holds import BlockDecision

__all__ = [
    "BlockDecision",
    "drop_block",
    "get_last_ingress_chunk",
    "hold_block",
    "passthrough_accumulated_chunks",
    "passthrough_block",
    "passthrough_last_chunk",
    "send_text",
    "send_tool_call",
]
from luthien_litellm_plugin.streaming.blocks import StreamBlock
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.types import ToolCall


async def send_text(ctx: StreamingResponseContext, text: str) -> None:
    """Send `text` to the client as a content delta."""
    if not text:
        raise ValueError("text must be non-empty")
    ctx._release.send(create_text_chunk(text, like=ctx.last_ingress_chunk))


async def send_tool_call(ctx: StreamingResponseContext, tool_call: ToolCall) -> None:
    """Send a complete tool call as one chunk (its index is assigned on the way out)."""
    ctx._release.send(create_tool_call_chunk(tool_call, like=ctx.last_ingress_chunk))


def get_last_ingress_chunk(ctx: StreamingResponseContext) -> ModelResponseStream | None:
    """The most recent upstream chunk."""
    return ctx.last_ingress_chunk


async def passthrough_block(ctx: StreamingResponseContext, block: StreamBlock) -> None:
    """Forward the block's upstream chunks, in their place (once what precedes them is decided)."""
    block.decision = "pass"


async def drop_block(ctx: StreamingResponseContext, block: StreamBlock) -> None:
    """Never forward the chunks that carried `block`."""
    block.decision = "drop"


async def passthrough_accumulated_chunks(ctx: StreamingResponseContext) -> None:
    """Forward the block being completed (the plan's name for `passthrough_block` in a
    completion hook)."""
    block = ctx.ingress_state.just_completed
    if block is not None and block.decision == "undecided":
        block.decision = "pass"


async def passthrough_last_chunk(ctx: StreamingResponseContext) -> None:
    """Forward every upstream chunk received so far, decided or not (dropped blocks excepted)."""
    ctx._release.flush(undecided_too=True)


def hold_block(
    ctx: StreamingResponseContext,
    block: StreamBlock,
    decision: Awaitable[BlockDecision],
    *,
    timeout: float | None = None,
) -> None:
    """Decide `block` later, when `decision` resolves; the stream goes on meanwhile (text before
    the block keeps flowing, other blocks may be held at the same time). What follows the block
    waits for it. A decision that raises fails the stream closed.

    `timeout`: how long the decision may take (enforce it in the decision itself, e.g. with
    `asyncio.timeout`). Until then the pending decision counts as activity for the stream's
    idle timeout; without one, the idle timeout runs while the decision is pending."""
    ctx._holds.hold(block, decision, timeout)
