"""Blocks a policy decides later (e.g. once an LLM judge answered), while the stream goes on.

A held block stops the release of everything after it, like an undecided one, but its decision
is an awaitable running in its own task: several holds of one response run concurrently, and
text before them keeps flowing. When a decision arrives it is applied at once, and whoever
waits on `changed()` (the runtime) is woken to hand on what that released.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.streaming.chunks import create_text_chunk, create_tool_call_chunk
from luthien_litellm_plugin.streaming.release import Release
from luthien_litellm_plugin.streaming.stream_blocks import StreamBlock
from luthien_litellm_plugin.types import ToolCall


@dataclass(frozen=True)
class BlockDecision:
    """How a held block ends: forwarded as it came, or dropped (and replaced by `text` and/or
    `tool_call`, in its place)."""

    forward: bool
    text: str | None = None
    tool_call: ToolCall | None = None

    @classmethod
    def keep(cls) -> BlockDecision:
        return cls(forward=True)

    @classmethod
    def drop(cls, *, text: str | None = None, tool_call: ToolCall | None = None) -> BlockDecision:
        return cls(forward=False, text=text, tool_call=tool_call)


class Holds:
    """The held blocks of one stream and their decision tasks."""

    def __init__(self, release: Release) -> None:
        self._release = release
        self._tasks: dict[StreamBlock, asyncio.Task[BlockDecision]] = {}
        self._changed: asyncio.Event | None = None
        self.failure: BaseException | None = None
        """The first exception a decision raised (the stream then fails closed)."""

    @property
    def pending(self) -> bool:
        return bool(self._tasks)

    def hold(self, block: StreamBlock, decision: Awaitable[BlockDecision]) -> None:
        block.decision = "held"
        task = asyncio.ensure_future(decision)
        self._tasks[block] = task
        task.add_done_callback(lambda done: self._resolved(block, done))

    def changed(self) -> Awaitable[bool]:
        """Completes when a decision arrived since the last call."""
        if self._changed is None:
            self._changed = asyncio.Event()
        self._changed.clear()
        return self._changed.wait()

    def cancel(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    def _resolved(self, block: StreamBlock, task: asyncio.Task[BlockDecision]) -> None:
        self._tasks.pop(block, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            try:
                self._apply(block, task.result())
            except Exception as failure:  # a callback: keep it for the stream to raise
                error = failure
        if error is not None:
            self.failure = self.failure or error
        if self._changed is not None:
            self._changed.set()

    def _apply(self, block: StreamBlock, decision: BlockDecision) -> None:
        release = self._release
        like = _first_chunk(release, block)
        if decision.text:
            release.send(create_text_chunk(decision.text, like=like), in_place_of=block)
        if decision.tool_call is not None:
            release.send(create_tool_call_chunk(decision.tool_call, like=like), in_place_of=block)
        block.decision = "pass" if decision.forward else "drop"
        release.flush()


def _first_chunk(release: Release, block: StreamBlock) -> ModelResponseStream | None:
    chunks = release.state.raw_chunks
    return chunks[block.parts[0]] if block.parts else (chunks[-1] if chunks else None)
