"""SimplePolicy: transform whole text blocks and whole tool calls; the framework does the rest."""

from __future__ import annotations

from litellm.types.utils import ModelResponse

from luthien_litellm_plugin.policies.decisions import decide_blocks
from luthien_litellm_plugin.policies.policy import Policy, PolicyContext, StreamHooks, overrides
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock, ToolCallStreamBlock
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.streaming.helpers import BlockDecision, drop_block, send_text, send_tool_call
from luthien_litellm_plugin.types import RequestMessage, ToolCall

ToolCallDecision = ToolCall | str | None
"""Keep or modify (a `ToolCall`), replace with text (a `str`), or drop (`None`)."""


class SimplePolicy(Policy):
    """Convenience base class for content-level transformations.

    Override `on_request_simple`, `on_response_content` and/or `on_response_tool_call`. While
    streaming, text is held until its block completes (only if `on_response_content` is
    overridden) and tool calls until they are whole (only if `on_response_tool_call` is); an
    unchanged block goes out as the original chunks, a changed one as new chunks. Everything
    else streams straight through. Streaming and non-streaming responses get the same result.
    Call `self.block(reason)` to refuse.
    """

    async def on_request_simple(self, request: RequestMessage) -> RequestMessage:
        """Transform/validate request before LLM."""
        return request

    async def on_response_content(self, content: str, request: RequestMessage) -> str:
        """Transform complete response content."""
        return content

    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCallDecision:
        """Keep, modify, replace with text, or drop (`None`) a complete tool call."""
        return tool_call

    # ----- streaming -----

    async def on_request(self, request: RequestMessage, context: PolicyContext) -> RequestMessage:
        return await self.on_request_simple(request)

    def has_request_hook(self) -> bool:
        return overrides(self, "on_request_simple", SimplePolicy) or overrides(self, "on_request", SimplePolicy)

    def stream_hooks(self) -> StreamHooks:
        """Text blocks are held only when `on_response_content` is overridden, tool calls only
        when `on_response_tool_call` is; the rest streams through untouched."""
        cls = type(self)
        return StreamHooks(
            content_complete=cls.on_response_content is not SimplePolicy.on_response_content,
            tool_call_complete=cls.on_response_tool_call is not SimplePolicy.on_response_tool_call,
        )

    async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
        content = block.content
        transformed = await self.on_response_content(content, ctx.final_request)
        if transformed == content:
            return  # forwarded as it came
        await drop_block(ctx, block)
        if transformed:
            await send_text(ctx, transformed)

    async def on_tool_call_complete(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
        tool_call = block.tool_call
        decision = await self.on_response_tool_call(tool_call, ctx.final_request)
        if decision == tool_call:
            return  # forwarded as it came
        await drop_block(ctx, block)
        if isinstance(decision, ToolCall):
            await send_tool_call(ctx, decision)
        elif decision:
            await send_text(ctx, decision)

    # ----- non-streaming -----

    async def process_full_response(self, response: ModelResponse, context: PolicyContext) -> ModelResponse:
        """Apply the same transformations to a complete response (returns a new object). The
        decisions of one response (its text, each tool call) run concurrently."""
        cls = type(self)
        request = context.request

        async def text(content: str) -> BlockDecision:
            transformed = await self.on_response_content(content, request)
            return BlockDecision.keep() if transformed == content else BlockDecision.drop(text=transformed)

        async def tool_call(call: ToolCall) -> BlockDecision:
            decision = await self.on_response_tool_call(call, request)
            if decision == call:
                return BlockDecision.keep()
            if isinstance(decision, ToolCall):
                return BlockDecision.drop(tool_call=decision)
            return BlockDecision.drop(text=decision or None)

        return await decide_blocks(
            response,
            text=text if cls.on_response_content is not SimplePolicy.on_response_content else None,
            tool_call=tool_call if cls.on_response_tool_call is not SimplePolicy.on_response_tool_call else None,
        )
