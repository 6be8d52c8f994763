"""One `SinkWriter` per sink: a bounded in-memory buffer, written in batches by a background task,
with a local spool for whatever the sink cannot take yet.

Order. Events leave memory oldest first, as numbered batches; a batch is in memory, being written,
being spooled or in the spool (`_At`), and only the writer removes one: the oldest, once the sink
took it. So the sink receives events in submission order, across failures, overflow and restarts
(a restart first replays the spool a previous process left).

State. `Lifecycle`: NEW → RUNNING → DRAINING → STOPPING → CLOSED (`_enter`). `Health` of the
sink: UNKNOWN → UP ⇄ DOWN (`_set_health`). Both methods log every change.

Two tasks:
- the writer sends the oldest batch to the sink (a new one from memory after a `batch_size` or
  `flush_interval_seconds` wait); a failure makes the sink DOWN, retried with exponential backoff;
- the spooler moves batches to the spool: the overflow past `buffer_size`, and all of memory while
  the sink is DOWN or the writer stops. `_spooled` is the one place a batch enters the spool.
`submit` never awaits, and touches the disk only past twice `buffer_size` (back-pressure: it spools
the excess itself) or while no task runs (no event loop yet, or after `aclose`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.storage.counters import CounterName, SinkStats
from luthien_litellm_plugin.storage.spool import Segment, Spool
from luthien_litellm_plugin.storage.store import EventStore, RejectedBatch

logger = logging.getLogger("luthien_litellm_plugin.storage")


class Lifecycle(Enum):
    NEW = "new"
    """Not started: events wait in memory (spooled past `buffer_size` when no event loop runs)."""
    RUNNING = "running"
    """The writer and the spooler run."""
    DRAINING = "draining"
    """`aclose()`: the writer sends what it can until `drain_timeout_seconds`, without waiting."""
    STOPPING = "stopping"
    """The writer stopped: the spooler moves everything still in memory to the spool."""
    CLOSED = "closed"
    """No task runs: `submit` spools each event, for the next start to replay."""


class Health(Enum):
    UNKNOWN = "unknown"
    """Not tried yet."""
    UP = "up"
    """The last attempt succeeded."""
    DOWN = "down"
    """The last attempt failed: the writer backs off, memory goes to the spool."""


_NEW, _CLOSED = Lifecycle.NEW, Lifecycle.CLOSED
"""For `submit`: on Python 3.11 a global is several times faster to read than an Enum member."""


class _At(Enum):
    """Where a batch that left memory is."""

    MEMORY = "memory"
    WRITING = "writing"
    SPOOLING = "spooling"
    SPOOL = "spool"


@dataclass(slots=True, eq=False)
class _Batch:
    """Events that left memory, in order (`position`)."""

    position: int
    batch_id: str
    count: int
    events: list[RecordedEvent] | None
    """In memory until written or spooled."""
    segment: Segment | None = None
    """Set once the batch is in the spool."""
    at: _At = _At.MEMORY

    def release(self) -> None:
        """The writer or the spooler gave up on it: it is where it was."""
        self.at = _At.MEMORY if self.segment is None else _At.SPOOL


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
        self._batches: deque[_Batch] = deque()
        self._next_position: int | None = None
        self._lifecycle = Lifecycle.NEW
        self._health = Health.UNKNOWN
        self._spool_above = 0
        """`submit` takes its slow path past this many events in memory (set by the state)."""
        self._writer_wake = asyncio.Event()  # data, a flush waiting, or draining
        self._spooler_wake = asyncio.Event()  # overflow, the sink down, or draining
        self._draining = asyncio.Event()  # cuts backoff and gathering waits short
        self._progress = asyncio.Event()  # a batch moved: waiters re-check
        self._closed = asyncio.Event()  # aclose() is done
        self._ready: asyncio.Future[None] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._spooler_task: asyncio.Task[None] | None = None
        self._waiters = 0
        self._backoff = flush_interval_seconds
        self._failures_in_a_row = 0
        self._deadline = 0.0

    @property
    def name(self) -> str:
        return self.store.name

    @property
    def lifecycle(self) -> Lifecycle:
        return self._lifecycle

    @property
    def health(self) -> Health:
        return self._health

    def stats(self) -> SinkStats:
        """The counters so far (an immutable `SinkStats`)."""
        return self.counters

    @property
    def buffered(self) -> int:
        """Events in memory, not yet written or spooled."""
        return len(self._memory) + sum(batch.count for batch in self._batches if batch.segment is None)

    # -- the request path ------------------------------------------------------------------

    def submit(self, event: RecordedEvent) -> None:
        """Take one event. Never awaits; touches the disk only as the module docstring says."""
        memory = self._memory
        memory.append(event)
        size = len(memory)
        if size == 1 or size >= self._batch_size:
            self._writer_wake.set()
        if size > self._spool_above:
            self._past_threshold(size)

    def _past_threshold(self, size: int) -> None:
        lifecycle = self._lifecycle
        if lifecycle is not _NEW and lifecycle is not _CLOSED:  # the tasks run
            self._spooler_wake.set()
            if size > self._hard_limit:  # the sink and the spooler both lag behind
                self._spool_now(keep=self._buffer_size)
        elif lifecycle is _CLOSED:
            self._spool_now()  # the next start replays it
        else:
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no event loop (library use): hold up to the buffer size
                self._spool_now(keep=self._buffer_size)
                return
            self.start()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> asyncio.Future[None]:
        """Launch the background tasks (needs a running loop). Await the result to know the store
        was tried once: connected and migrated, or found unreachable (then events are spooled)."""
        if self._ready is None:
            loop = asyncio.get_running_loop()
            self._ready = loop.create_future()
            self._enter(Lifecycle.RUNNING)
            self._writer_task = loop.create_task(self._write_in_background(), name=f"luthien-writer-{self.name}")
            self._writer_task.add_done_callback(self._task_done)
        return self._ready

    async def flush(self) -> None:
        """Wait until every event submitted so far is in the store or in the spool."""
        await self._wait_until(lambda: not self._memory and all(b.segment is not None for b in self._batches))

    async def settle(self) -> None:
        """Wait until every event submitted so far is in the store, the spool replayed included.
        (Waits as long as the store is down: bound it with `asyncio.timeout`.)"""
        await self._wait_until(lambda: not self._memory and not self._batches)

    async def aclose(self) -> None:
        """Drain and stop. Buffered events go to the store, or to the spool if the store is down
        or already has a spooled backlog (which is then replayed for up to
        `drain_timeout_seconds`); what is left in the spool is replayed by the next start."""
        if self._lifecycle is Lifecycle.CLOSED:
            return
        if self._lifecycle is not Lifecycle.NEW and self._lifecycle is not Lifecycle.RUNNING:
            await self._closed.wait()  # another aclose() is at it
            return
        self.start()
        self._deadline = asyncio.get_running_loop().time() + self._drain_timeout
        self._enter(Lifecycle.DRAINING)
        await _finished(self._writer_task)
        self._enter(Lifecycle.STOPPING)
        await _finished(self._spooler_task)
        self._enter(Lifecycle.CLOSED)
        self._spool_now()  # what the spooler could not take (or it never ran): last attempt
        await self._reset_store()
        await asyncio.to_thread(self.spool.close)
        self._closed.set()
        logger.info(self.counters.summary())

    def spool_buffered(self) -> None:
        """Move whatever is still in memory to the spool without awaiting anything: at process
        exit, when no event loop is left to flush with. The next start replays it."""
        if self.buffered:
            self._spool_now()
            logger.info(self.counters.summary())

    # -- state -----------------------------------------------------------------------------

    def _enter(self, lifecycle: Lifecycle) -> None:
        logger.debug("luthien sink %s: %s → %s", self.name, self._lifecycle.value, lifecycle.value)
        self._lifecycle = lifecycle
        self._update_threshold()
        if lifecycle is not Lifecycle.RUNNING:  # both tasks re-check what is left to do
            self._draining.set()
            self._writer_wake.set()
            self._spooler_wake.set()

    def _set_health(self, health: Health, error: Exception | None = None) -> None:
        previous, self._health = self._health, health
        if health is previous:
            return
        self._update_threshold()
        if health is Health.DOWN:
            self._spooler_wake.set()
            if previous is Health.UNKNOWN:
                logger.warning("luthien sink %s: not reachable at start (%s); events will be spooled", self.name, error)
            else:
                logger.warning("luthien sink %s: write failed (%r); spooling and retrying", self.name, error)
        elif previous is Health.DOWN:
            logger.info("luthien sink %s: reachable again after %d failed attempts", self.name, self._failures_in_a_row)
            self._failures_in_a_row = 0
            self._backoff = self._interval

    def _update_threshold(self) -> None:
        running = self._lifecycle is Lifecycle.RUNNING and self._health is not Health.DOWN
        self._spool_above = self._buffer_size if running else 0

    # -- the writer task -------------------------------------------------------------------

    async def _write_in_background(self) -> None:
        try:
            await self._load_spool()
            loop = asyncio.get_running_loop()
            self._spooler_task = loop.create_task(self._spool_in_background(), name=f"luthien-spooler-{self.name}")
            self._spooler_task.add_done_callback(self._task_done)
            try:
                await self.store.open()  # connect and migrate now, not at the first event
            except Exception as error:
                await self._failed(error)
            else:
                self._set_health(Health.UP)
        finally:
            self._set_ready()
        await self._deliver()

    async def _load_spool(self) -> None:
        try:
            await asyncio.to_thread(self.spool.open)
            segments = await asyncio.to_thread(self.spool.segments)
        except OSError as error:
            self._count("failures")
            logger.error("luthien sink %s: spool %s unusable: %s", self.name, self.spool.root, error)
            return
        self._next_position = max(self._next_position or 0, self.spool.next_position)
        known = {batch.position for batch in self._batches}  # spooled by submit meanwhile
        found = [
            _Batch(s.position, s.batch_id, s.count, None, s, _At.SPOOL) for s in segments if s.position not in known
        ]
        self._batches = deque(sorted([*found, *self._batches], key=lambda batch: batch.position))
        if segments:
            logger.info("luthien sink %s: %d spooled events to replay", self.name, sum(s.count for s in segments))

    async def _deliver(self) -> None:
        """Send the oldest batch to the sink, again and again, until draining ends."""
        loop = asyncio.get_running_loop()
        gathered = failed_while_draining = False
        while True:
            draining = self._lifecycle is not Lifecycle.RUNNING
            if not self._batches and not self._memory:
                self._progress.set()
                if draining:
                    return
                await _next(self._writer_wake)
                continue
            if draining and (failed_while_draining or loop.time() > self._deadline):
                return
            if self._health is Health.DOWN and not draining:
                await _wait(self._draining, self._backoff * random.uniform(0.5, 1.0))
            elif not self._batches and not gathered and self._should_gather():
                self._writer_wake.clear()
                await _wait(self._writer_wake, self._interval)
                gathered = True
                continue
            gathered = False
            batch = self._batches[0] if self._batches else self._take()
            if batch.at is _At.SPOOLING:
                await _next(self._progress)  # the spooler is done with it soon
                continue
            if not await self._send(batch) and draining:
                failed_while_draining = True  # one attempt while draining: the spool keeps the rest

    def _should_gather(self) -> bool:
        return self._lifecycle is Lifecycle.RUNNING and not self._waiters and len(self._memory) < self._batch_size

    async def _send(self, batch: _Batch) -> bool:
        """Write the oldest batch. False: the sink failed (it is DOWN) and the batch stays, for
        the spooler (if it is still in memory) and the next attempt."""
        batch.at = _At.WRITING
        try:
            events = batch.events if batch.events is not None else await self._read_spooled(batch)
            delivered = await self._write(batch, events) if events else 0
        except Exception as error:
            batch.release()
            await self._failed(error)
            return False
        await self._finish(batch, delivered)
        return True

    async def _write(self, batch: _Batch, events: list[RecordedEvent]) -> int:
        """Events delivered (all but those the store refused as invalid)."""
        await self.store.open()
        try:
            await self.store.write(events, batch_id=batch.batch_id)
            delivered = len(events)
        except RejectedBatch as error:
            delivered = await self._write_one_by_one(batch, events, error)
        self._set_health(Health.UP)
        return delivered

    async def _read_spooled(self, batch: _Batch) -> list[RecordedEvent]:
        segment = batch.segment
        assert segment is not None
        try:
            events, unreadable = await asyncio.to_thread(self.spool.read, segment)
        except FileNotFoundError:
            logger.error(
                "luthien sink %s: spooled batch %s vanished (%d events)", self.name, segment.path, segment.count
            )
            self._count("dropped", segment.count)
            return []
        if unreadable:
            logger.error("luthien sink %s: %d unreadable lines in %s", self.name, unreadable, segment.path)
            self._count("dropped", unreadable)
        return events

    async def _write_one_by_one(self, batch: _Batch, events: list[RecordedEvent], error: RejectedBatch) -> int:
        """The store refused the batch's content: write its events singly, keep the refused ones in
        the spool's `rejected.jsonl` and count them as rejected. Transient errors propagate."""
        logger.warning("luthien sink %s: batch refused (%s); writing its events one by one", self.name, error)
        rejected: list[tuple[RecordedEvent, str]] = []
        for index, event in enumerate(events):
            try:
                await self.store.write([event], batch_id=f"{batch.batch_id}x{index}")
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

    async def _failed(self, error: Exception) -> None:
        self._count("failures")
        self._failures_in_a_row += 1
        if self._health is Health.DOWN:
            logger.debug("luthien sink %s: failed again (%r)", self.name, error)
        self._set_health(Health.DOWN, error)
        self._backoff = min(self._backoff * 2, self._max_backoff)
        await self._reset_store()

    async def _finish(self, batch: _Batch, delivered: int) -> None:
        if batch.segment is not None:
            try:
                await asyncio.to_thread(self.spool.delete, batch.segment)
            except OSError as error:
                logger.error("luthien sink %s: could not delete %s: %s", self.name, batch.segment.path, error)
            self._count("replayed", delivered)
        else:
            self._count("written", delivered)
        popped = self._batches.popleft()
        assert popped is batch
        batch.events = None
        self._progress.set()

    # -- the spooler task ------------------------------------------------------------------

    async def _spool_in_background(self) -> None:
        overflow = gathered = False
        while True:
            size = len(self._memory)
            overflow = size > self._buffer_size or (overflow and size > self._buffer_size // 2)
            everything = self._spool_everything()
            batch = self._idle_batch() if everything else None
            if batch is None and size and (everything or overflow):
                if not overflow and not gathered and size < self._batch_size and self._lifecycle is Lifecycle.RUNNING:
                    gathered = True
                    await _wait(self._draining, self._interval)  # gather: fewer, larger spool files
                    continue
                batch = self._take()
            if batch is None:
                if self._lifecycle is Lifecycle.STOPPING:
                    return
                await _next(self._spooler_wake)
                continue
            gathered = False
            if not await self._spool_in_thread(batch):  # the disk refuses: the batch stays in memory
                if self._lifecycle is not Lifecycle.RUNNING:
                    return  # aclose() makes one last synchronous attempt
                await _wait(self._draining, self._max_backoff)

    def _spool_everything(self) -> bool:
        """Whether all of memory belongs in the spool now, not only the overflow: the sink is down,
        the writer stopped, or it is draining a spooled backlog first."""
        if self._health is Health.DOWN or self._lifecycle is Lifecycle.STOPPING:
            return True
        draining = self._lifecycle is Lifecycle.DRAINING
        return draining and any(b.segment is not None or b.at is _At.SPOOLING for b in self._batches)

    def _idle_batch(self) -> _Batch | None:
        """The oldest batch that left memory, is not spooled and nobody works on."""
        return next((batch for batch in self._batches if batch.at is _At.MEMORY), None)

    async def _spool_in_thread(self, batch: _Batch) -> bool:
        batch.at = _At.SPOOLING
        try:
            outcome = await asyncio.to_thread(self._write_segment, batch)
        finally:
            batch.release()
            self._progress.set()
        return self._spooled(batch, outcome)

    # -- shared ----------------------------------------------------------------------------

    def _take(self) -> _Batch:
        """The oldest batch in memory, as the newest batch."""
        memory = self._memory
        events = [memory.popleft() for _ in range(min(self._batch_size, len(memory)))]
        if self._next_position is None:  # first batch before the writer loaded the spool
            self.spool.open()
            self._next_position = self.spool.next_position
        position = self._next_position
        self._next_position += 1
        batch = _Batch(position, os.urandom(8).hex(), len(events), events)
        self._batches.append(batch)
        return batch

    def _spool_now(self, keep: int = 0) -> None:
        """Spool synchronously, blocking the caller: memory down to `keep` events; with `keep=0`
        (no task runs: closed, or at exit) first every batch not yet in the spool."""
        pending = [batch for batch in self._batches if batch.segment is None] if not keep else []
        spooled = all(self._spooled(batch, self._write_segment(batch)) for batch in pending)
        while spooled and len(self._memory) > keep:
            batch = self._take()
            spooled = self._spooled(batch, self._write_segment(batch))
        if not spooled and self._lifecycle is Lifecycle.CLOSED:  # nobody is left to retry: count them
            lost = self.buffered
            logger.error("luthien sink %s: %d buffered events lost (the spool refuses them)", self.name, lost)
            self._count("dropped", lost)
            self._memory.clear()
            self._batches.clear()

    def _write_segment(self, batch: _Batch) -> Segment | OSError:
        """The file I/O of spooling a batch: runs in any thread, changes nothing in the writer."""
        assert batch.events is not None
        try:
            return self.spool.write(batch.position, batch.batch_id, batch.events)
        except OSError as error:
            return error

    def _spooled(self, batch: _Batch, outcome: Segment | OSError) -> bool:
        """Record that `batch` went from memory to the spool (`outcome`: `_write_segment`'s)."""
        if isinstance(outcome, OSError):
            self._count("failures")
            logger.error(
                "luthien sink %s: cannot spool %d events (%s); keeping them in memory", self.name, batch.count, outcome
            )
            return False
        batch.segment, batch.events, batch.at = outcome, None, _At.SPOOL
        self._count("spooled", batch.count)
        self._progress.set()
        return True

    def _count(self, name: CounterName, count: int = 1) -> None:
        self.counters = self.counters.add(name, count)

    async def _reset_store(self) -> None:
        try:
            await self.store.close()
        except Exception as error:
            logger.debug("luthien sink %s: close: %r", self.name, error)

    async def _wait_until(self, done: Callable[[], bool]) -> None:
        if self._lifecycle is Lifecycle.NEW:
            self.start()
        self._waiters += 1
        try:
            self._writer_wake.set()  # no gathering wait while someone waits
            while not done():
                if any(task is not None and task.done() for task in (self._writer_task, self._spooler_task)):
                    raise RuntimeError(f"luthien sink {self.name}: writer stopped")
                await _next(self._progress)
        finally:
            self._waiters -= 1

    def _set_ready(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._progress.set()
        self._set_ready()
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._count("failures")
            logger.error("luthien sink %s: %s crashed", self.name, task.get_name(), exc_info=error)


async def _next(event: asyncio.Event) -> None:
    """Wait for the next `set()` of `event` (the caller checked its condition just before)."""
    event.clear()
    await event.wait()


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait for `event` at most `seconds`; whether it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def _finished(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        await asyncio.wait([task])
