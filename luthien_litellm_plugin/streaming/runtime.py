"""Serves a stream on the client's pull: one generator, no tasks, no queues.

Each time the client asks for more, the upstream is read once; what it returns goes through
the processor (the policy), and whatever the processor released is handed on. The upstream is
read to its end, then the processor finishes. Waiting for the client does not count toward
the idle timeout (a slow client is not an idle upstream). Leaving early (the client is gone)
closes the upstream.

Only while a policy holds blocks (`hold_block`) is there concurrency: the upstream read races
the decisions, and a client that has received nothing for `KEEPALIVE_SECONDS` gets a keepalive
(when the wire has one). A pending decision counts as activity for the idle timeout only
within its own time budget.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

from luthien_litellm_plugin.errors import LuthienError, StreamIdleTimeoutError, TerminalStatus

In = TypeVar("In", contravariant=True)
Out = TypeVar("Out")
Item = TypeVar("Item")


class StreamProcessor(Protocol[In, Out]):
    """The policy side of a stream: upstream items (chunks) in, items for the client out."""

    async def feed(self, item: In) -> None:
        """Take one upstream item (run the policy on it)."""

    async def close(self) -> None:
        """The upstream ended: let the policy finish."""

    @property
    def holding(self) -> bool:
        """Some block's decision is still being made (concurrently, in its own task), or one
        arrived that `pump` has not handed on yet."""

    def changed(self) -> Awaitable[bool]:
        """Completes when a held block was decided since the last `pump` (at once if one was)."""

    async def pump(self) -> None:
        """Hand on what the decisions that arrived released (a chain feeds it to its next policy)."""

    def busy_until(self) -> float:
        """Until when (event-loop time) pending decisions count as activity for the idle timeout:
        the latest end of their own time budgets (`hold_block(..., timeout=)`)."""

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


class _Quiet:
    """Nothing arrived before a keepalive was due."""


_END = _End()
_QUIET = _Quiet()
KEEPALIVE_SECONDS = 10.0
"""While blocks are held, how long the client may go without receiving anything before it gets
a keepalive (when the wire has one), so that it and load balancers do not time out. Below
LiteLLM's own 15 s Anthropic ping and far below common load-balancer idle timeouts (60 s)."""


Finish = Callable[[TerminalStatus, str | None], Awaitable[None]]
"""Records how the stream ended (called once, shielded from cancellation)."""
ClientError = Callable[[Exception], Exception]
"""What to raise to the client for a failure (e.g. an engine error in the client's format)."""
ErrorFrame = Callable[[Exception], Out]
"""The in-band error item for a stream that fails after output started (e.g. `event: error`)."""
ErrorItem = Callable[[Exception], Out]
"""The last item of a stream that failed (raising instead when the wire has no such item now)."""
Keepalive = TypeVar("Keepalive")


def _never_busy() -> float:
    return float("-inf")


class IdleDeadline:
    """Cancels the serving task when, for `timeout` seconds, neither the upstream sent anything
    nor the policy reported progress (`keepalive`, a decision arriving), and no pending decision
    is still within its own time budget (`busy_until`). Time spent waiting for the client does
    not count.

    One timer per stream, re-armed only when it fires: marking the start and end of each wait
    costs two attribute writes, not a timer per chunk.
    """

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self.expired = False
        self.busy_until: Callable[[], float] = _never_busy
        """Until when (loop time) pending work counts as activity (set to the processor's)."""
        self._loop = asyncio.get_running_loop()
        self._waiting_since: float | None = None
        self._task: asyncio.Task[object] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def start_wait(self, since: float | None = None) -> float:
        """Start (or, with `since`, continue) an idle period; returns when it started."""
        now = self._loop.time()
        self._waiting_since = since = now if since is None else since
        self._task = asyncio.current_task()  # the consumer may pull each item from another task
        if self._timer is None:
            self._timer = self._loop.call_at(max(now, since + self.timeout), self._check)
        return since

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
        deadline = max(since, self.busy_until()) + self.timeout
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
    upstream: AsyncIterator[Item],
    processor: StreamProcessor[Item, Out],
    *,
    deadline: IdleDeadline,
    finish: Finish,
    client_error: ClientError = lambda error: error,
    keepalive: Callable[[], Keepalive] | None = None,
    keepalive_seconds: float | None = None,
    error_item: ErrorItem[Out] | None = None,
) -> AsyncGenerator[Out | Keepalive, None]:
    """Serve an upstream of single chunks; each released item is yielded on its own. A failure is
    raised (as `client_error(error)`), or ends the stream with `error_item(error)` when given.
    `keepalive_seconds` overrides `KEEPALIVE_SECONDS`."""
    clock = _KeepaliveClock(keepalive is not None, keepalive_seconds)
    reader = _Reader(upstream.__anext__, processor, clock)
    deadline.busy_until = processor.busy_until
    status: TerminalStatus = "cancelled"
    error: str | None = "client disconnected"
    idle_since: float | None = None
    try:
        while True:
            idle_since = deadline.start_wait(idle_since)
            try:
                item = await reader.next()
                if item is _END:
                    await processor.close()
                elif item is None:
                    await processor.pump()
                elif item is not _QUIET:
                    await processor.feed(item)  # type: ignore[arg-type]
            except asyncio.CancelledError:
                deadline.raise_if_expired()
                raise
            finally:
                deadline.end_wait()
            processor.check()
            if item is _QUIET:
                if keepalive is not None:
                    clock.sent()
                    yield keepalive()
                continue
            idle_since = None
            items = processor.take()
            if items:
                clock.sent()
                for released in items:
                    yield released
            if item is _END:
                break
        async for last in _held_to_the_end(processor, deadline, clock, keepalive):
            yield last
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
    upstream: AsyncIterator[Sequence[Item]],
    processor: StreamProcessor[Item, Out],
    *,
    deadline: IdleDeadline,
    join: Callable[[list[Out]], Out],
    finish: Finish,
    error_frame: ErrorFrame[Out],
    client_error: ClientError = lambda error: error,
    keepalive: Callable[[], Out] | None = None,
    keepalive_seconds: float | None = None,
) -> AsyncGenerator[Out, None]:
    """Serve an upstream whose items each hold several chunks (the events of one network read).
    A batch is processed at once and what it released leaves as one item, `join(items)`; only
    the stream's first output leaves as soon as it is released, before the rest of its batch is
    processed (the time to first byte does not wait for a whole read). A failure after output
    started ends the stream with `error_frame(error)`, never a cut."""
    clock = _KeepaliveClock(keepalive is not None, keepalive_seconds)
    reader = _Reader(upstream.__anext__, processor, clock)
    deadline.busy_until = processor.busy_until
    status: TerminalStatus = "cancelled"
    error: str | None = "client disconnected"
    started = False
    idle_since: float | None = None
    rest: Sequence[Item] = ()  # what is left of a batch whose first output was served early
    try:
        try:
            while True:
                idle_since = deadline.start_wait(idle_since)
                first: list[Out] = []
                try:
                    batch = rest or await reader.next()
                    if batch is _END:
                        await processor.close()
                    elif batch is None:
                        await processor.pump()
                    elif batch is not _QUIET:
                        first, rest = await _feed_batch(processor, batch, until_output=not started)  # type: ignore[arg-type]
                except asyncio.CancelledError:
                    deadline.raise_if_expired()
                    raise
                finally:
                    deadline.end_wait()
                processor.check()
                if batch is _QUIET:
                    if keepalive is not None:
                        clock.sent()
                        started = True
                        yield keepalive()
                    continue
                idle_since = None
                items = first + processor.take()
                if items:
                    started = True
                    clock.sent()
                    yield items[0] if len(items) == 1 else join(items)
                if batch is _END:
                    break
            async for released in _held_to_the_end(processor, deadline, clock, keepalive):
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


async def _feed_batch(
    processor: StreamProcessor[Item, Out], batch: Sequence[Item], *, until_output: bool
) -> tuple[list[Out], Sequence[Item]]:
    """Feed `batch`. With `until_output`, stop at the first chunk that releases output, unless it
    is the last: returns (that output, the chunks not fed yet)."""
    if not until_output:
        for chunk in batch:
            await processor.feed(chunk)
        return [], ()
    last = len(batch) - 1
    for position, chunk in enumerate(batch):
        await processor.feed(chunk)
        if position < last:
            released = processor.take()
            if released:
                return released, batch[position + 1 :]
    return [], ()


class _KeepaliveClock:
    """When the client last received something, and so when it is due a keepalive."""

    def __init__(self, enabled: bool, interval: float | None) -> None:
        self._enabled = enabled
        self._interval = KEEPALIVE_SECONDS if interval is None else interval
        self._loop = asyncio.get_running_loop()
        self._sent_at = self._loop.time()

    def sent(self) -> None:
        """The client just received something."""
        if self._enabled:
            self._sent_at = self._loop.time()

    def due_in(self) -> float | None:
        """Seconds until the client is due a keepalive (None: never)."""
        if not self._enabled:
            return None
        return max(0.0, self._sent_at + self._interval - self._loop.time())


class _Held(Protocol):
    @property
    def holding(self) -> bool: ...

    def changed(self) -> Awaitable[bool]: ...


class _Reader(Generic[Item]):
    """Reads the upstream; while blocks are held, races the read against their decisions and
    the client's keepalive being due.

    `next()` returns the next upstream item, `_END`, None when a held block was decided before
    the upstream sent anything (the read goes on in the background meanwhile), or `_QUIET` when
    the client is due a keepalive (only with `keepalives`).
    """

    def __init__(self, read: Callable[[], Awaitable[Item]], processor: _Held, clock: _KeepaliveClock) -> None:
        self._read = read
        self._processor = processor
        self._pending: asyncio.Future[Item | _End] | None = None
        self._clock = clock

    async def next(self) -> Item | _End | _Quiet | None:
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
            await asyncio.wait((pending, changed), timeout=self._clock.due_in(), return_when=asyncio.FIRST_COMPLETED)
            decided = changed.done()
        finally:
            changed.cancel()
        if not pending.done():
            return None if decided else _QUIET
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
    processor: StreamProcessor[Item, Out],
    deadline: IdleDeadline,
    clock: _KeepaliveClock,
    keepalive: Callable[[], Keepalive] | None,
) -> AsyncGenerator[Out | Keepalive, None]:
    """After the upstream ended: hand on what each decision releases, keep the client alive
    while waiting (the idle timeout runs meanwhile), then end the stream."""
    idle_since: float | None = None
    while processor.holding:
        idle_since = deadline.start_wait(idle_since)
        try:
            decided = await _within(processor.changed(), clock.due_in())
            if decided:
                await processor.pump()
        except asyncio.CancelledError:
            deadline.raise_if_expired()
            raise
        finally:
            deadline.end_wait()
        if not decided:
            if keepalive is not None:
                clock.sent()
                yield keepalive()
            continue
        idle_since = None
        processor.check()
        items = processor.take()
        if items:
            clock.sent()
            for released in items:
                yield released
    processor.finish()
    for released in processor.take():
        yield released


async def _within(awaitable: Awaitable[bool], seconds: float | None) -> bool:
    """Whether `awaitable` completed within `seconds` (None: no limit)."""
    if seconds is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        return False


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
