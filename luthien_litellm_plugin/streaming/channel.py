"""A single-consumer async channel with explicit close, optionally carrying an error."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class ClosedChannelError(RuntimeError):
    """Raised when sending on a channel that was already closed."""


class Channel(Generic[T]):
    """Unbounded FIFO between one or more producers and one consumer.

    Producers `send`, then `close()` (end of stream) or `close(error)` (the consumer raises
    `error` once it has drained what was sent before). The consumer iterates with `async for`.
    No sentinels, no polling: a waiting consumer is woken by a future.
    """

    __slots__ = ("_closed", "_error", "_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._error: BaseException | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    def send_nowait(self, item: T) -> None:
        if self._closed:
            raise ClosedChannelError("send on a closed channel")
        self._items.append(item)
        self._wake()

    async def send(self, item: T) -> None:
        self.send_nowait(item)

    def close(self, error: BaseException | None = None) -> None:
        """End the stream. A second close is ignored: the first one decides how it ended."""
        if self._closed:
            return
        self._closed = True
        self._error = error
        self._wake()

    async def receive(self) -> T:
        """Next item; `StopAsyncIteration` at a clean end; the close error after an erroring end."""
        while not self._items:
            if self._closed:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    async def receive_available(self) -> list[T]:
        """Every item sent so far (waiting for the first); `[]` at a clean end, the close error
        after an erroring end (once the items sent before it were received)."""
        try:
            first = await self.receive()
        except StopAsyncIteration:
            return []
        items = [first]
        while self._items:
            items.append(self._items.popleft())
        return items

    def __aiter__(self) -> Channel[T]:
        return self

    async def __anext__(self) -> T:
        return await self.receive()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
