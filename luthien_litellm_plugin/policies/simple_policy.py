"""SimplePolicy: transform whole text blocks and whole tool calls; the framework does the rest."""

from __future__ import annotations

from litellm.types.utils import (
    ChatCompletionCustomToolCallPayload,
    ChatCompletionMessageCustomToolCall,
    ChatCompletionMessageToolCall,
    Choices,
    Function,
    FunctionCall,
    ModelResponse,
)

from luthien_litellm_plugin.policies.policy import Policy, PolicyContext, StreamHooks
from luthien_litellm_plugin.streaming.helpers import drop_block, send_text, send_tool_call
from luthien_litellm_plugin.streaming.stream_blocks import ContentStreamBlock, ToolCallStreamBlock
from luthien_litellm_plugin.streaming.streaming_response_context import StreamingResponseContext
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
        """Apply the same transformations to a complete response (returns a new object)."""
        result = response.model_copy(deep=True)
        for choice in result.choices:
            if isinstance(choice, Choices):
                await self._apply_to_choice(choice, context.request)
        return result

    async def _apply_to_choice(self, choice: Choices, request: RequestMessage) -> None:
        message = choice.message
        text = message.content or ""
        if text:
            text = await self.on_response_content(text, request)
        kept: list[ChatCompletionMessageToolCall | ChatCompletionMessageCustomToolCall] = []
        for call in message.tool_calls or []:
            original = _tool_call_of(call)
            decision = await self.on_response_tool_call(original, request)
            if isinstance(decision, ToolCall):
                kept.append(call if decision == original else _message_tool_call(decision))
            elif decision:
                text += decision
        legacy = message.function_call
        kept_legacy: FunctionCall | None = None
        if legacy is not None:
            original = ToolCall(id="", name=legacy.name or "", arguments=legacy.arguments or "", type="function_call")
            decision = await self.on_response_tool_call(original, request)
            if isinstance(decision, ToolCall):
                kept_legacy = legacy if decision == original else FunctionCall(**_function_of(decision))
            elif decision:
                text += decision
        message.content = text or None
        had_tool_calls = bool(message.tool_calls)
        message.tool_calls = kept or None
        message.function_call = kept_legacy
        if (had_tool_calls and not kept and choice.finish_reason == "tool_calls") or (
            legacy is not None and kept_legacy is None and choice.finish_reason == "function_call"
        ):
            choice.finish_reason = "stop"


def _tool_call_of(call: ChatCompletionMessageToolCall | ChatCompletionMessageCustomToolCall) -> ToolCall:
    if isinstance(call, ChatCompletionMessageCustomToolCall):
        return ToolCall(id=call.id, name=call.custom.name, arguments=call.custom.input, type="custom")
    return ToolCall(id=call.id or "", name=call.function.name or "", arguments=call.function.arguments or "")


def _function_of(tool_call: ToolCall) -> dict[str, str]:
    return {"name": tool_call.name, "arguments": tool_call.arguments}


def _message_tool_call(tool_call: ToolCall) -> ChatCompletionMessageToolCall | ChatCompletionMessageCustomToolCall:
    if tool_call.type == "custom":
        payload = ChatCompletionCustomToolCallPayload(name=tool_call.name, input=tool_call.arguments)
        return ChatCompletionMessageCustomToolCall(id=tool_call.id, custom=payload)
    return ChatCompletionMessageToolCall(id=tool_call.id, type="function", function=Function(**_function_of(tool_call)))
