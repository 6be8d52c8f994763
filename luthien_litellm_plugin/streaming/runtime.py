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
from typing import Generic, Protocol, TypeVar

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.errors import LuthienError, StreamIdleTimeoutError, TerminalStatus

Chunk = ModelResponseStream
Out = TypeVar("Out")
Item = TypeVar("Item")


class StreamProcessor(Protocol[Out]):
    """The policy side of a stream."""

    async def feed(self, chunk: Chunk) -> None:
        """Take one upstream chunk (run the policy on it)."""

    async def close(self) -> None:
        """The upstream ended: let the policy finish."""

    @property
    def holding(self) -> bool:
        """Some block's decision is still being made (concurrently, in its own task)."""

    def changed(self) -> Awaitable[bool]:
        """Completes when a held block was decided."""

    def check(self) -> None:
        """Raise the failure of a held block's decision, if any."""

    def finish(self) -> None:
        """End the stream, once nothing is held."""

    def discard(self) -> None:
        """The stream ended early: stop what is still being decided."""

    def take(self) -> list[Out]:
        """What was released for the client since the last call, in order."""


class _End:
    """The upstream's end, as a value (a task cannot carry StopAsyncIteration)."""


_END = _End()
KEEPALIVE_SECONDS = 10.0
"""While held blocks are decided after the upstream ended, how often to send the client a
keepalive (when the wire has one) so it and load balancers do not time out."""


Finish = Callable[[TerminalStatus, str | None], Awaitable[None]]
ClientError = Callable[[Exception], Exception]
"""What to raise to the client for a failure (e.g. an engine error in the client's format)."""
"""Records how the stream ended (called once, shielded from cancellation)."""
ErrorFrame = Callable[[Exception], Out]
ErrorItem = Callable[[Exception], Out]
"""The last item of a stream that failed (raising instead when the wire has no such item now)."""
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
    keepalive: Callable[[], Out] | None = None,
    error_item: ErrorItem[Out] | None = None,
) -> AsyncGenerator[Out, None]:
    """Serve an upstream of single chunks; each released item is yielded on its own. A failure is
    raised (as `client_error(error)`), or ends the stream with `error_item(error)` when given."""
    reader = _Reader(upstream.__anext__, processor)
    status: TerminalStatus = "cancelled"
    error: str | None = "client disconnected"
    try:
        while True:
            deadline.start_wait()
            try:
                item = await reader.next()
                if item is _END:
                    await processor.close()
                elif item is not None:
                    await processor.feed(item)  # type: ignore[arg-type]
            except asyncio.CancelledError:
                deadline.raise_if_expired()
                raise
            finally:
                deadline.end_wait()
            processor.check()
            for released in processor.take():
                yield released
            if item is _END:
                break
        async for released in _held_to_the_end(processor, keepalive):
            yield released
        status, error = "success", None
    except Exception as failure:
        status, error = _terminal(failure)
        if error_item is not None:
            for released in processor.take():
                yield released
            yield error_item(failure)
            return
        raised = client_error(failure)
        if raised is failure:
            raise
        raise raised from failure
    finally:
        deadline.cancel()
        reader.cancel()
        processor.discard()
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
    keepalive: Callable[[], Out] | None = None,
) -> AsyncGenerator[Out, None]:
    """Serve an upstream whose items each hold several chunks (the events of one network read).
    A batch is processed at once and what it released leaves as one item, `join(items)`. A
    failure after output started ends the stream with `error_frame(error)`, never a cut."""
    reader = _Reader(upstream.__anext__, processor)
    status: TerminalStatus = "cancelled"
    error: str | None = "client disconnected"
    started = False
    try:
        try:
            while True:
                deadline.start_wait()
                try:
                    batch = await reader.next()
                    if batch is _END:
                        await processor.close()
                    elif batch is not None:
                        for chunk in batch:  # type: ignore[union-attr]
                            await processor.feed(chunk)
                except asyncio.CancelledError:
                    deadline.raise_if_expired()
                    raise
                finally:
                    deadline.end_wait()
                processor.check()
                items = processor.take()
                if items:
                    started = True
                    yield items[0] if len(items) == 1 else join(items)
                if batch is _END:
                    break
            async for released in _held_to_the_end(processor, keepalive):
                started = True
                yield released
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
        reader.cancel()
        processor.discard()
        await asyncio.shield(_end(upstream, finish, status, error))


class _Held(Protocol):
    @property
    def holding(self) -> bool: ...

    def changed(self) -> Awaitable[bool]: ...


class _Reader(Generic[Item]):
    """Reads the upstream; while blocks are held, races the read against their decisions.

    `next()` returns the next upstream item, `_END`, or None when a held block was decided
    before the upstream sent anything (the read goes on in the background meanwhile).
    """

    def __init__(self, read: Callable[[], Awaitable[Item]], processor: _Held) -> None:
        self._read = read
        self._processor = processor
        self._pending: asyncio.Future[Item | _End] | None = None

    async def next(self) -> Item | _End | None:
        if self._pending is None and not self._processor.holding:
            try:
                return await self._read()
            except StopAsyncIteration:
                return _END
        pending = self._pending
        if pending is None:
            pending = self._pending = asyncio.ensure_future(self._read_to_end())
        changed = asyncio.ensure_future(self._processor.changed())
        try:
            await asyncio.wait((pending, changed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
        if not pending.done():
            return None
        self._pending = None
        return pending.result()

    async def _read_to_end(self) -> Item | _End:
        try:
            return await self._read()
        except StopAsyncIteration:
            return _END

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None


async def _held_to_the_end(
    processor: StreamProcessor[Out], keepalive: Callable[[], Out] | None
) -> AsyncGenerator[Out, None]:
    """After the upstream ended: hand on what each decision releases, keep the client alive
    while waiting, then end the stream."""
    while processor.holding:
        try:
            await asyncio.wait_for(processor.changed(), KEEPALIVE_SECONDS)
        except TimeoutError:
            if keepalive is not None:
                yield keepalive()
            continue
        processor.check()
        for released in processor.take():
            yield released
    processor.finish()
    for released in processor.take():
        yield released


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
