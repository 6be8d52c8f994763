"""Serves a stream on the client's pull: one generator, no tasks, no queues.

Each time the client asks for more, the upstream is read once; what it returns goes through
the processor (the policy), and whatever the processor released is handed on. The upstream is
read to its end, then the processor finishes. Waiting for the client does not count toward
the idle timeout (a slow client is not an idle upstream). Leaving early (the client is gone)
closes the upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.errors import LuthienError, StreamIdleTimeoutError, TerminalStatus

Chunk = ModelResponseStream
Out = TypeVar("Out")


class StreamProcessor(Protocol[Out]):
    """The policy side of a stream."""

    async def feed(self, chunk: Chunk) -> None:
        """Take one upstream chunk (run the policy on it)."""

    async def close(self) -> None:
        """The upstream ended: let the policy finish and end the stream."""

    def take(self) -> list[Out]:
        """What was released for the client since the last call, in order."""


Finish = Callable[[TerminalStatus, str | None], Awaitable[None]]
ClientError = Callable[[Exception], Exception]
"""What to raise to the client for a failure (e.g. an engine error in the client's format)."""
"""Records how the stream ended (called once, shielded from cancellation)."""
ErrorFrame = Callable[[Exception], Out]
"""The in-band error item for a stream that fails after output started (e.g. `event: error`)."""


class IdleDeadline:
    """Cancels the serving task when, for `timeout` seconds, neither the upstream sent anything
    nor the policy reported progress (`keepalive`). Time spent waiting for the client does not
    count.

    One timer per stream, re-armed only when it fires: marking the start and end of each wait
    costs two attribute writes, not a timer per chunk.
    """

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self.expired = False
        self._loop = asyncio.get_running_loop()
        self._waiting_since: float | None = None
        self._task: asyncio.Task[object] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def start_wait(self) -> None:
        self._waiting_since = now = self._loop.time()
        self._task = asyncio.current_task()  # the consumer may pull each item from another task
        if self._timer is None:
            self._timer = self._loop.call_at(now + self.timeout, self._check)

    def end_wait(self) -> None:
        self._waiting_since = None

    def keepalive(self) -> None:
        """The policy is still working (e.g. on a slow check): start the idle period again."""
        if self._waiting_since is not None:
            self._waiting_since = self._loop.time()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        since = self._waiting_since
        if since is None:
            return  # not waiting: the next wait arms the timer again
        deadline = since + self.timeout
        if self._loop.time() < deadline:
            self._timer = self._loop.call_at(deadline, self._check)
        elif self._task is not None:
            self.expired = True
            self._task.cancel()

    def raise_if_expired(self) -> None:
        """After a CancelledError: turn this deadline's cancellation into the timeout error."""
        task = self._task
        if self.expired and task is not None and task.uncancel() == 0:
            self.expired = False
            raise StreamIdleTimeoutError(self.timeout) from None


async def serve_chunks(
    upstream: AsyncIterator[Chunk],
    processor: StreamProcessor[Out],
    *,
    deadline: IdleDeadline,
    finish: Finish,
    client_error: ClientError = lambda error: error,
) -> AsyncGenerator[Out, None]:
    """Serve an upstream of single chunks; each released item is yielded on its own."""
    read = upstream.__anext__
    status: TerminalStatus = "cancelled"
    error: str | None = "client disconnected"
    try:
        more = True
        while more:
            deadline.start_wait()
            try:
                try:
                    await processor.feed(await read())
                except StopAsyncIteration:
                    more = False
                    await processor.close()
            except asyncio.CancelledError:
                deadline.raise_if_expired()
                raise
            finally:
                deadline.end_wait()
            for item in processor.take():
                yield item
        status, error = "success", None
    except Exception as failure:
        status, error = _terminal(failure)
        raised = client_error(failure)
        if raised is failure:
            raise
        raise raised from failure
    finally:
        deadline.cancel()
        await asyncio.shield(_end(upstream, finish, status, error))


async def serve_batches(
    upstream: AsyncIterator[Sequence[Chunk]],
    processor: StreamProcessor[Out],
    *,
    deadline: IdleDeadline,
    join: Callable[[list[Out]], Out],
    finish: Finish,
    error_frame: ErrorFrame[Out],
    client_error: ClientError = lambda error: error,
) -> AsyncGenerator[Out, None]:
    """Serve an upstream whose items each hold several chunks (the events of one network read).
    A batch is processed at once and what it released leaves as one item, `join(items)`. A
    failure after output started ends the stream with `error_frame(error)`, never a cut."""
    read = upstream.__anext__
    status: TerminalStatus = "cancelled"
    error: str | None = "client disconnected"
    started = False
    try:
        try:
            more = True
            while more:
                deadline.start_wait()
                try:
                    try:
                        for chunk in await read():
                            await processor.feed(chunk)
                    except StopAsyncIteration:
                        more = False
                        await processor.close()
                except asyncio.CancelledError:
                    deadline.raise_if_expired()
                    raise
                finally:
                    deadline.end_wait()
                items = processor.take()
                if items:
                    started = True
                    yield items[0] if len(items) == 1 else join(items)
            status, error = "success", None
        except Exception as failure:
            status, error = _terminal(failure)
            items = processor.take()  # what the events before the failing one released
            if not started and not items:
                raised = client_error(failure)
                if raised is failure:
                    raise
                raise raised from failure
            yield join([*items, error_frame(failure)])
    finally:
        deadline.cancel()
        await asyncio.shield(_end(upstream, finish, status, error))


def _terminal(failure: Exception) -> tuple[TerminalStatus, str]:
    if isinstance(failure, LuthienError):
        return failure.status, str(failure)
    return "error", f"{type(failure).__name__}: {failure}"


async def _end(upstream: object, finish: Finish, status: TerminalStatus, error: str | None) -> None:
    aclose = getattr(upstream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
    await finish(status, error)
