"""Deciding the blocks of a complete (non-streamed) response with the `BlockDecision`s a stream's
held blocks use, so a policy writes one decision function for both paths."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from litellm.types.utils import (
    ChatCompletionCustomToolCallPayload,
    ChatCompletionMessageCustomToolCall,
    ChatCompletionMessageToolCall,
    Choices,
    Function,
    FunctionCall,
    ModelResponse,
)

from luthien_litellm_plugin.streaming.holds import BlockDecision
from luthien_litellm_plugin.types import ToolCall

T = TypeVar("T")
C = TypeVar("C")
DecideText = Callable[[str], Awaitable[BlockDecision]]
DecideToolCall = Callable[[ToolCall], Awaitable[BlockDecision]]
MessageToolCall = ChatCompletionMessageToolCall | ChatCompletionMessageCustomToolCall


async def decide_blocks(
    response: ModelResponse, *, text: DecideText | None = None, tool_call: DecideToolCall | None = None
) -> ModelResponse:
    """Decide the text and each tool call of a complete response (function, custom and legacy
    `function_call` alike), all of them at once (concurrently), and return a copy with the
    decisions applied.

    `keep()` leaves a block as it is. `drop(text=…, tool_call=…)` removes it: replacement text
    takes the place of dropped text, or is appended to the message's text for a dropped tool
    call; a replacement tool call takes the dropped call's place, in the same shape. When every
    tool call was removed, `finish_reason` `tool_calls` / `function_call` becomes `stop`. A
    decision that raises (e.g. `self.block(…)`) cancels the others and is raised.
    """
    result = response.model_copy(deep=True)
    for choice in result.choices:
        if isinstance(choice, Choices):
            await _decide_choice(choice, text, tool_call)
    return result


async def _decide_choice(choice: Choices, decide_text: DecideText | None, decide_call: DecideToolCall | None) -> None:
    message = choice.message
    content = message.content or ""
    calls: list[MessageToolCall] = list(message.tool_calls or [])
    legacy = message.function_call
    originals = [tool_call_of(call) for call in calls]
    if legacy is not None:
        originals.append(
            ToolCall(id="", name=legacy.name or "", arguments=legacy.arguments or "", type="function_call")
        )
    text_decision, call_decisions = await _decisions(content, originals, decide_text, decide_call)
    if not text_decision.forward:
        content = text_decision.text or ""
    kept: list[MessageToolCall] = []
    for call, decision in zip(calls, call_decisions, strict=False):
        survivor, note = _outcome(call, decision, message_tool_call)
        content += note
        kept.extend([survivor] if survivor is not None else [])
    kept_legacy: FunctionCall | None = None
    if legacy is not None:
        kept_legacy, note = _outcome(legacy, call_decisions[-1], _function_call)
        content += note
    message.content = content or None
    message.tool_calls = kept or None
    message.function_call = kept_legacy
    if (calls and not kept and choice.finish_reason == "tool_calls") or (
        legacy is not None and kept_legacy is None and choice.finish_reason == "function_call"
    ):
        choice.finish_reason = "stop"


async def _decisions(
    content: str, calls: list[ToolCall], decide_text: DecideText | None, decide_call: DecideToolCall | None
) -> tuple[BlockDecision, list[BlockDecision]]:
    """(the text's decision, each call's), all made concurrently; undecided blocks are kept."""
    keep = BlockDecision.keep()
    judge_text = decide_text is not None and bool(content)
    pending = [decide_text(content)] if decide_text is not None and judge_text else []
    pending += [decide_call(call) for call in calls] if decide_call is not None else []
    decided = await all_or_none(pending)
    text = decided.pop(0) if judge_text else keep
    return text, decided if decide_call is not None else [keep] * len(calls)


def _outcome(original: C, decision: BlockDecision, rebuild: Callable[[ToolCall], C]) -> tuple[C | None, str]:
    """(what stays in the call's place, text to append) after a call's decision."""
    if decision.forward:
        return original, ""
    replacement = rebuild(decision.tool_call) if decision.tool_call is not None else None
    return replacement, decision.text or ""


def _function_call(tool_call: ToolCall) -> FunctionCall:
    return FunctionCall(name=tool_call.name, arguments=tool_call.arguments)


async def all_or_none(awaitables: Sequence[Awaitable[T]]) -> list[T]:
    """Await all concurrently, results in order; the first failure cancels the rest and is raised.
    A single awaitable runs inline (no task)."""
    if len(awaitables) <= 1:
        return [await awaitable for awaitable in awaitables]
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failures = [task.exception() for task in tasks if task.done() and not task.cancelled()]
        failure = next((error for error in failures if error is not None), None)
        if failure is not None:
            raise failure
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()


def tool_call_of(call: MessageToolCall) -> ToolCall:
    """A complete response's tool call as the `ToolCall` policies see."""
    if isinstance(call, ChatCompletionMessageCustomToolCall):
        return ToolCall(id=call.id, name=call.custom.name, arguments=call.custom.input, type="custom")
    return ToolCall(id=call.id or "", name=call.function.name or "", arguments=call.function.arguments or "")


def message_tool_call(tool_call: ToolCall) -> MessageToolCall:
    """A `ToolCall` as a complete response's tool call, in its shape (function or custom)."""
    if tool_call.type == "custom":
        payload = ChatCompletionCustomToolCallPayload(name=tool_call.name, input=tool_call.arguments)
        return ChatCompletionMessageCustomToolCall(id=tool_call.id, custom=payload)
    function = Function(name=tool_call.name, arguments=tool_call.arguments)
    return ChatCompletionMessageToolCall(id=tool_call.id, type="function", function=function)
