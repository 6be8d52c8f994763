"""One `SinkWriter` per sink: a bounded in-memory buffer, written in batches by a background task,
with a local spool for whatever the sink cannot take yet.

Order. Events leave memory oldest first, as batches ("tickets") numbered in that order. A ticket
is being written, being spooled, or waiting in the spool; the writer only ever works on the
oldest ticket, and takes a new batch from memory only when no ticket is left. So the sink
receives events in submission order, across failures, overflow and restarts.

Two tasks per sink:
- the writer writes the oldest ticket (or a fresh batch from memory, after a `batch_size` or
  `flush_interval_seconds` wait); when the sink fails, the batch goes to the spool and the
  writer retries the oldest ticket with exponential backoff;
- the spiller moves batches from memory to the spool when the buffer holds more than
  `buffer_size` events (sink slow) or the sink is down, so memory stays bounded and events are
  on disk while they wait.
Spool file I/O runs in threads; `submit` never does I/O while the writer runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.storage.counters import CounterName, SinkStats
from luthien_litellm_plugin.storage.spool import Segment, Spool
from luthien_litellm_plugin.storage.store import EventStore, RejectedBatch

logger = logging.getLogger("luthien_litellm_plugin.storage")


@dataclass(slots=True, eq=False)
class _Ticket:
    """A batch that left memory, in order (`position`)."""

    position: int
    batch_id: str
    count: int
    events: list[RecordedEvent] | None
    """In memory until written or spooled."""
    segment: Segment | None = None
    """Set once the batch is in the spool."""
    spilled: asyncio.Event | None = None
    """While the spiller writes the batch to the spool: set when that is over."""

    @property
    def in_transit(self) -> bool:
        return self.spilled is not None and not self.spilled.is_set()


class SinkWriter:
    """Buffers events for one `EventStore` and writes them in the background.

    `submit` appends to memory and returns (≈0.2 µs). `start()` launches the tasks (and returns a
    future done once the store was first tried: connected and migrated, or found down).
    `flush()` waits until everything submitted is in the store or the spool, `settle()` until it
    is in the store, `aclose()` drains and stops. `counters` / `stats()`: the current `SinkStats`.
    """

    def __init__(
        self,
        store: EventStore,
        spool: Spool,
        *,
        buffer_size: int = 10_000,
        batch_size: int = 500,
        flush_interval_seconds: float = 0.05,
        max_backoff_seconds: float = 5.0,
        drain_timeout_seconds: float = 10.0,
    ) -> None:
        self.store = store
        self.spool = spool
        self.counters = SinkStats(store.name)
        """The counters so far (immutable: each count replaces it)."""
        self._buffer_size = buffer_size
        self._hard_limit = 2 * buffer_size
        self._batch_size = max(1, min(batch_size, buffer_size))
        self._interval = flush_interval_seconds
        self._max_backoff = max_backoff_seconds
        self._drain_timeout = drain_timeout_seconds
        self._memory: deque[RecordedEvent] = deque()
        self._tickets: deque[_Ticket] = deque()
        self._next_position: int | None = None
        self._wake = asyncio.Event()  # the writer: data, flush or stop
        self._spill_wake = asyncio.Event()  # the spiller: overflow, sink down, or stop
        self._stop = asyncio.Event()  # interrupts backoff waits
        self._changed = asyncio.Event()  # progress, for flush() / settle()
        self._closed_event = asyncio.Event()
        self._ready: asyncio.Future[None] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._spiller_task: asyncio.Task[None] | None = None
        self._running = False
        self._closed = False
        self._stopping = False
        self._spill_all = False
        self._spiller_exit = False
        self._overflowing = False
        self._down = False
        self._gave_up = False
        self._waiters = 0
        self._backoff = flush_interval_seconds
        self._deadline = 0.0
        self._failures_in_a_row = 0

    @property
    def name(self) -> str:
        return self.store.name

    def stats(self) -> SinkStats:
        """The counters so far (an immutable `SinkStats`)."""
        return self.counters

    def _count(self, name: CounterName, count: int = 1) -> None:
        self.counters = self.counters.add(name, count)

    @property
    def buffered(self) -> int:
        """Events in memory, not yet written or spooled."""
        return len(self._memory) + sum(t.count for t in self._tickets if t.segment is None)

    # -- the request path ------------------------------------------------------------------

    def submit(self, event: RecordedEvent) -> None:
        """Take one event. Never awaits and, while the writer runs, never touches the disk."""
        memory = self._memory
        memory.append(event)
        if self._running:
            size = len(memory)
            if size == 1 or size >= self._batch_size:
                self._wake.set()
            if size > self._buffer_size or self._down:
                self._spill_wake.set()
                if size > self._hard_limit:
                    self._spill_overflow_now()
        else:
            self._submit_while_stopped()

    def _spill_overflow_now(self) -> None:
        """Memory holds twice the buffer size: the sink and the spiller both lag behind. Move the
        oldest events to the spool right here (blocking the caller: back-pressure, but bounded
        memory and nothing lost)."""
        try:
            while len(self._memory) > self._buffer_size:
                ticket = self._take()
                self._tickets.append(ticket)
                assert ticket.events is not None
                ticket.segment = self.spool.write(ticket.position, ticket.batch_id, ticket.events)
                ticket.events = None
                self._count("spooled", ticket.count)
        except OSError as error:  # the events stay in memory, with their tickets
            self._count("failures")
            logger.error("luthien sink %s: cannot spool: %s", self.name, error)
        self._changed.set()

    def _submit_while_stopped(self) -> None:
        if not self._closed:
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no event loop (library use): hold, up to the buffer size
                if len(self._memory) > self._buffer_size:
                    self._spill_now()
                return
            self.start()
            self._wake.set()
        else:  # after aclose(): straight to the spool, the next start replays it
            self._spill_now()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> asyncio.Future[None]:
        """Launch the background tasks (needs a running loop). Await the result to know the store
        was tried once: connected and migrated, or found unreachable (then events are spooled)."""
        if self._ready is None:
            loop = asyncio.get_running_loop()
            self._ready = loop.create_future()
            self._running = True
            self._writer_task = loop.create_task(self._run_writer(), name=f"luthien-writer-{self.name}")
            self._writer_task.add_done_callback(self._task_done)
        return self._ready

    async def flush(self) -> None:
        """Wait until every event submitted so far is in the store or in the spool."""
        await self._wait_until(lambda: not self._memory and all(t.segment is not None for t in self._tickets))

    async def settle(self) -> None:
        """Wait until every event submitted so far is in the store, the spool replayed included.
        (Waits as long as the store is down: bound it with `asyncio.timeout`.)"""
        await self._wait_until(lambda: not self._memory and not self._tickets)

    async def aclose(self) -> None:
        """Drain and stop. Buffered events go to the store, or to the spool if the store is down
        or already has a spooled backlog (which is then replayed for up to
        `drain_timeout_seconds`); what is left in the spool is replayed by the next start."""
        if self._closed:
            return
        if self._stopping:  # another aclose() is draining
            await self._closed_event.wait()
            return
        if self._ready is None:
            self.start()
        loop = asyncio.get_running_loop()
        self._stopping = True
        self._deadline = loop.time() + self._drain_timeout
        if self._down or any(t.segment is not None or t.in_transit for t in self._tickets):
            self._spill_all = True  # a spooled backlog comes first: make memory durable meanwhile
        self._wake.set()
        self._stop.set()
        self._spill_wake.set()
        if self._writer_task is not None:
            await asyncio.wait([self._writer_task])
        self._spill_all = self._spiller_exit = True
        self._spill_wake.set()
        if self._spiller_task is not None:
            await asyncio.wait([self._spiller_task])
        self._running = False
        self._closed = True
        if self._memory or any(t.segment is None for t in self._tickets):
            self._spill_now()  # the spiller could not (or never ran): last attempt
        await self._reset_store()
        await asyncio.to_thread(self.spool.close)
        self._closed_event.set()
        logger.info(self.counters.summary())

    def spool_buffered(self) -> None:
        """Move whatever is still in memory to the spool without awaiting anything: at process
        exit, when no event loop is left to flush with. The next start replays it."""
        if self._memory or any(t.segment is None for t in self._tickets):
            self._spill_now()
            logger.info(self.counters.summary())

    # -- the writer task -------------------------------------------------------------------

    async def _run_writer(self) -> None:
        try:
            await self._load_spool()
            loop = asyncio.get_running_loop()
            self._spiller_task = loop.create_task(self._run_spiller(), name=f"luthien-spiller-{self.name}")
            self._spiller_task.add_done_callback(self._task_done)
            await self._open_store_at_start()
        finally:
            self._set_ready()
        await self._drain()

    async def _load_spool(self) -> None:
        try:
            await asyncio.to_thread(self.spool.open)
            segments = await asyncio.to_thread(self.spool.segments)
        except OSError as error:
            self._count("failures")
            logger.error("luthien sink %s: spool %s unusable: %s", self.name, self.spool.root, error)
            return
        self._next_position = max(self._next_position or 0, self.spool.next_position)
        known = {ticket.position for ticket in self._tickets}  # spilled by submit meanwhile
        found = [_Ticket(s.position, s.batch_id, s.count, None, s) for s in segments if s.position not in known]
        self._tickets = deque(sorted([*found, *self._tickets], key=lambda ticket: ticket.position))
        if segments:
            logger.info("luthien sink %s: %d spooled events to replay", self.name, sum(s.count for s in segments))

    async def _open_store_at_start(self) -> None:
        try:
            await self.store.open()  # connect and migrate now, not at the first event
        except Exception as error:
            self._count("failures")
            logger.warning("luthien sink %s: not reachable at start (%s); events will be spooled", self.name, error)
            self._mark_down()
            await self._reset_store()

    async def _drain(self) -> None:
        gathered = False
        while True:
            if not self._tickets and not self._memory:
                self._changed.set()
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._stopping and asyncio.get_running_loop().time() > self._deadline:
                return
            if self._down:
                if not await self._pause():
                    return
            elif not self._tickets and not gathered and self._should_gather():
                self._wake.clear()
                await _wait(self._wake, self._interval)
                gathered = True
                continue
            gathered = False
            if not self._tickets:
                if not self._memory:
                    continue
                self._tickets.append(self._take())
            head = self._tickets[0]
            if head.in_transit:
                assert head.spilled is not None
                await head.spilled.wait()
                continue
            await self._attempt(head)

    def _should_gather(self) -> bool:
        return not self._stopping and not self._waiters and len(self._memory) < self._batch_size

    async def _pause(self) -> bool:
        """Back off before retrying a failed store. False: stopping and already retried once."""
        if self._stopping:
            return not self._gave_up
        delay = self._backoff * random.uniform(0.5, 1.0)
        await _wait(self._stop, delay)
        return not self._stopping or not self._gave_up

    async def _attempt(self, ticket: _Ticket) -> None:
        """Write the oldest ticket; on failure spool it (if it is not already) and mark the store down."""
        events = ticket.events
        if events is None:
            events = await self._read_segment(ticket)
            if events is None:
                return
            if not events:  # nothing readable in it
                await self._finish(ticket, 0)
                return
        try:
            await self.store.open()
            try:
                await self.store.write(events, batch_id=ticket.batch_id)
                delivered = len(events)
            except RejectedBatch as error:
                delivered = await self._write_one_by_one(ticket, events, error)
        except Exception as error:
            await self._failed(ticket, error)
            return
        if self._down:
            logger.info("luthien sink %s: reachable again after %d failed attempts", self.name, self._failures_in_a_row)
        self._down = self._overflowing = False
        self._failures_in_a_row = 0
        self._backoff = self._interval
        await self._finish(ticket, delivered)

    async def _read_segment(self, ticket: _Ticket) -> list[RecordedEvent] | None:
        segment = ticket.segment
        assert segment is not None
        try:
            events, unreadable = await asyncio.to_thread(self.spool.read, segment)
        except FileNotFoundError:
            logger.error(
                "luthien sink %s: spooled batch %s vanished (%d events)", self.name, segment.path, segment.count
            )
            self._count("dropped", segment.count)
            self._tickets.popleft()
            self._changed.set()
            return None
        except OSError as error:
            await self._failed(ticket, error)
            return None
        if unreadable:
            logger.error("luthien sink %s: %d unreadable lines in %s", self.name, unreadable, segment.path)
            self._count("dropped", unreadable)
        return events

    async def _write_one_by_one(self, ticket: _Ticket, events: list[RecordedEvent], error: RejectedBatch) -> int:
        """The store refused the batch's content: write its events singly, keep the refused ones in
        the spool's `rejected.jsonl` and count them as rejected. Transient errors propagate."""
        logger.warning("luthien sink %s: batch refused (%s); writing its events one by one", self.name, error)
        rejected: list[tuple[RecordedEvent, str]] = []
        for index, event in enumerate(events):
            try:
                await self.store.write([event], batch_id=f"{ticket.batch_id}x{index}")
            except RejectedBatch as refusal:
                rejected.append((event, str(refusal)))
        for event, reason in rejected:
            logger.error(
                "luthien sink %s: event %s (%s of transaction %s) refused: %s",
                self.name,
                event.event_id,
                event.event_type,
                event.transaction_id,
                reason,
            )
            try:
                await asyncio.to_thread(self.spool.reject, [event], reason)
            except OSError as spool_error:
                logger.error("luthien sink %s: could not keep the refused event: %s", self.name, spool_error)
                self._count("dropped")
        self._count("rejected", len(rejected))
        return len(events) - len(rejected)

    async def _failed(self, ticket: _Ticket, error: Exception) -> None:
        self._count("failures")
        self._failures_in_a_row += 1
        level = logging.WARNING if self._failures_in_a_row == 1 else logging.DEBUG
        logger.log(level, "luthien sink %s: write failed (%r); spooling and retrying", self.name, error)
        if self._stopping:
            self._gave_up = True
        self._mark_down()
        self._backoff = min(self._backoff * 2, self._max_backoff)
        await self._reset_store()
        if ticket.segment is None:
            await self._spool_ticket(ticket)

    async def _finish(self, ticket: _Ticket, delivered: int) -> None:
        if ticket.segment is not None:
            try:
                await asyncio.to_thread(self.spool.delete, ticket.segment)
            except OSError as error:
                logger.error("luthien sink %s: could not delete %s: %s", self.name, ticket.segment.path, error)
            self._count("replayed", delivered)
        else:
            self._count("written", delivered)
        popped = self._tickets.popleft()
        assert popped is ticket
        ticket.events = None
        self._changed.set()

    def _mark_down(self) -> None:
        self._down = True
        self._spill_wake.set()

    # -- the spiller task ------------------------------------------------------------------

    async def _run_spiller(self) -> None:
        gathered = False
        while True:
            if self._spill_needed():
                if not gathered and not self._spill_all and self._down and len(self._memory) < self._batch_size:
                    await _wait(self._stop, self._interval)  # gather: fewer, larger spool files
                    gathered = True
                    continue  # the writer may have taken the memory meanwhile
                gathered = False
                ticket = self._take()
                self._tickets.append(ticket)
                ticket.spilled = asyncio.Event()
                try:
                    spooled = await self._spool_ticket(ticket)
                finally:
                    ticket.spilled.set()
                    self._changed.set()
                if not spooled:  # the disk refuses: the events stay in memory (the writer may still write them)
                    if self._stopping:
                        return  # aclose() makes one last synchronous attempt
                    await _wait(self._stop, self._max_backoff)
                continue
            if self._spiller_exit:
                return
            self._spill_wake.clear()
            await self._spill_wake.wait()

    def _spill_needed(self) -> bool:
        size = len(self._memory)
        if not size:
            return False
        if self._spill_all or self._down:
            return True
        if size > self._buffer_size:
            self._overflowing = True
        elif size <= self._buffer_size // 2:
            self._overflowing = False
        return self._overflowing

    # -- shared ----------------------------------------------------------------------------

    def _take(self) -> _Ticket:
        """The oldest batch in memory, as the newest ticket."""
        memory = self._memory
        events = [memory.popleft() for _ in range(min(self._batch_size, len(memory)))]
        if self._next_position is None:  # first batch before the writer loaded the spool
            self.spool.open()
            self._next_position = self.spool.next_position
        position = self._next_position
        self._next_position += 1
        return _Ticket(position, os.urandom(8).hex(), len(events), events)

    async def _spool_ticket(self, ticket: _Ticket) -> bool:
        events = ticket.events
        assert events is not None
        try:
            segment = await asyncio.to_thread(self.spool.write, ticket.position, ticket.batch_id, events)
        except OSError as error:
            self._count("failures")
            logger.error(
                "luthien sink %s: cannot spool %d events (%s); keeping them in memory", self.name, len(events), error
            )
            return False
        ticket.segment = segment
        ticket.events = None
        self._count("spooled", len(events))
        self._changed.set()
        return True

    def _spill_now(self) -> None:
        """Synchronously spool every in-memory ticket and the memory (no task is running)."""
        try:
            for ticket in self._tickets:
                if ticket.segment is None and ticket.events is not None:
                    ticket.segment = self.spool.write(ticket.position, ticket.batch_id, ticket.events)
                    ticket.events = None
                    self._count("spooled", ticket.count)
            while self._memory:
                ticket = self._take()
                assert ticket.events is not None
                self.spool.write(ticket.position, ticket.batch_id, ticket.events)
                self._count("spooled", ticket.count)
        except OSError as error:
            lost = self.buffered
            self._count("failures")
            logger.error("luthien sink %s: cannot spool %d buffered events: %s", self.name, lost, error)
            if self._closed:
                self._count("dropped", lost)
                self._memory.clear()
                self._tickets.clear()

    async def _reset_store(self) -> None:
        try:
            await self.store.close()
        except Exception as error:
            logger.debug("luthien sink %s: close: %r", self.name, error)

    async def _wait_until(self, done: Callable[[], bool]) -> None:
        if self._ready is None and not self._closed:
            self.start()
        self._waiters += 1
        try:
            self._wake.set()  # no gathering wait while someone waits
            while not done():
                for task in (self._writer_task, self._spiller_task):
                    if task is not None and task.done() and not done():
                        raise RuntimeError(f"luthien sink {self.name}: writer stopped")
                self._changed.clear()
                await self._changed.wait()
        finally:
            self._waiters -= 1

    def _set_ready(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._changed.set()
        self._set_ready()
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._count("failures")
            logger.error("luthien sink %s: %s crashed", self.name, task.get_name(), exc_info=error)


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait for `event` at most `seconds`; whether it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
