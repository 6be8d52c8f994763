"""Blocks a policy decides later (e.g. once an LLM judge answered), while the stream goes on.

A held block stops the release of everything after it, like an undecided one, but its decision
is an awaitable running in its own task: several holds of one response run concurrently, and
text before them keeps flowing. When a decision arrives it is applied at once, and whoever
waits on its `Changes` (the runtime) is woken to hand on what that released.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.chunks import create_text_chunk, create_tool_call_chunk
from luthien_litellm_plugin.streaming.blocks import StreamBlock
from luthien_litellm_plugin.streaming.release import Release
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


class Changes:
    """Whether a held block was decided since the last `clear()` (shared by the holds of every
    policy of a chain, so one wait covers them all)."""

    __slots__ = ("_event", "pending")

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self.pending = False

    def notify(self) -> None:
        self.pending = True
        if self._event is not None:
            self._event.set()

    def clear(self) -> None:
        self.pending = False
        if self._event is not None:
            self._event.clear()

    async def wait(self) -> bool:
        """Completes once a decision arrived since the last `clear()` (at once if one did)."""
        if not self.pending:
            if self._event is None:
                self._event = asyncio.Event()
            await self._event.wait()
        return True


class Holds:
    """The held blocks of one stream and their decision tasks."""

    def __init__(self, release: Release, changes: Changes | None = None) -> None:
        self._release = release
        self.changes = changes if changes is not None else Changes()
        self._tasks: dict[StreamBlock, asyncio.Task[BlockDecision]] = {}
        self._budgets: dict[StreamBlock, float] = {}
        self.failure: BaseException | None = None
        """The first exception a decision raised (the stream then fails closed)."""

    @property
    def pending(self) -> bool:
        return bool(self._tasks)

    def hold(self, block: StreamBlock, decision: Awaitable[BlockDecision], timeout: float | None = None) -> None:
        """Decide `block` when `decision` resolves. With `timeout`, the pending decision counts
        as activity for the stream's idle timeout for that many seconds."""
        block.decision = "held"
        task = asyncio.ensure_future(decision)
        self._tasks[block] = task
        if timeout is not None:
            self._budgets[block] = asyncio.get_running_loop().time() + timeout
        task.add_done_callback(lambda done: self._resolved(block, done))

    def busy_until(self) -> float:
        """The latest end (loop time) of a pending decision's time budget."""
        return max(self._budgets.values(), default=float("-inf"))

    def cancel(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        self._budgets.clear()

    def _resolved(self, block: StreamBlock, task: asyncio.Task[BlockDecision]) -> None:
        self._tasks.pop(block, None)
        self._budgets.pop(block, None)
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
        self.changes.notify()

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
