"""One background writer per store: batches from a bounded buffer, spool when the store fails."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from luthien_litellm_plugin.observability import metrics
from luthien_litellm_plugin.observability.events import RecordedEvent
from luthien_litellm_plugin.storage.spool import Spool
from luthien_litellm_plugin.storage.store import EventStore

logger = logging.getLogger("luthien_litellm_plugin.storage")


@dataclass
class SinkCounters:
    """Per-sink totals, mirrored as OTel counters `luthien.sink.<name>` labelled `sink`."""

    sink: str
    written: int = 0
    spooled: int = 0
    replayed: int = 0
    dropped: int = 0
    failures: int = 0

    def add(self, name: str, count: int) -> None:
        if count:
            setattr(self, name, getattr(self, name) + count)
            metrics.counter(f"luthien.sink.{name}").add(count, {"sink": self.sink})

    def summary(self) -> str:
        return (
            f"luthien sink {self.sink}: written={self.written} spooled={self.spooled} "
            f"replayed={self.replayed} dropped={self.dropped} failures={self.failures}"
        )


class SinkWriter:
    """Takes events with `submit` (never blocks, never awaits) and writes them in batches.

    When the store fails or the buffer is full, events go to the spool; while the spool holds
    events, new batches go behind them, so the store receives events in order. Each flush
    first replays the spool; writes are idempotent, so a replay cut short does no harm.
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
    ) -> None:
        self.store = store
        self.spool = spool
        self.counters = SinkCounters(store.name)
        self._buffer: deque[RecordedEvent] = deque()
        self._buffer_size = buffer_size
        self._batch_size = batch_size
        self._interval = flush_interval_seconds
        self._max_backoff = max_backoff_seconds
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._caught_up = asyncio.Event()
        self._caught_up.set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def name(self) -> str:
        return self.store.name

    def submit(self, event: RecordedEvent) -> None:
        if len(self._buffer) >= self._buffer_size:
            self.spool.append([event])  # overflow: slower, but nothing is lost
            self.counters.add("spooled", 1)
            return
        self._buffer.append(event)
        self._idle.clear()
        self._caught_up.clear()
        if len(self._buffer) == 1 or len(self._buffer) >= self._batch_size:
            self._wake.set()  # first event starts the flush timer; a full batch flushes at once

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"luthien-writer-{self.name}")
            self._task.add_done_callback(self._report_crash)

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.counters.add("failures", 1)
            logger.error("luthien sink %s: writer stopped: %r", self.name, task.exception())

    async def flush(self) -> None:
        """Wait until everything submitted so far was written or spooled."""
        self._wake.set()
        await self._idle.wait()

    async def settle(self) -> None:
        """Wait until everything submitted so far is in the store (spool replayed included)."""
        self._wake.set()
        await self._caught_up.wait()

    async def aclose(self) -> None:
        """Drain the buffer (to the store, or to the spool if it is down), then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._buffer:
            self._to_spool(list(self._buffer))
            self._buffer.clear()
        await self.store.close()
        c = self.counters
        logger.info(
            "luthien sink %s: written=%d spooled=%d replayed=%d dropped=%d",
            self.name,
            c.written,
            c.spooled,
            c.replayed,
            c.dropped,
        )

    def spool_buffered(self) -> None:
        """Move the buffer to the spool without awaiting anything (process exit)."""
        batch = list(self._buffer)
        self._buffer.clear()
        self._to_spool(batch)
        logger.info(self.counters.summary())

    async def _run(self) -> None:
        try:
            await self.store.open()  # connect and migrate at start, not at the first event
        except Exception as error:
            self.counters.add("failures", 1)
            logger.warning("luthien sink %s: not reachable at start (%s); events will be spooled", self.name, error)
            await self._reset_store()
        backoff = self._interval
        failed = False
        while True:
            if not self._buffer:
                self._idle.set()
                if self.spool.empty:
                    self._caught_up.set()
                if self._stopping and (self.spool.empty or failed):
                    return
                if self.spool.empty:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
            elif not self._stopping and len(self._buffer) < self._batch_size and self.spool.empty:
                await self._wait(self._interval)  # let a batch gather
            failed = not await self._flush_once()
            if not failed:
                backoff = self._interval
                continue
            if self._stopping:
                return
            await self._wait(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _flush_once(self) -> bool:
        """Replay the spool, then write one batch. False if the store failed."""
        batch = [self._buffer.popleft() for _ in range(min(self._batch_size, len(self._buffer)))]
        try:
            await self.store.open()
            if not self.spool.empty:
                spooled = self.spool.read()
                await self.store.write(spooled)
                self.spool.clear()
                self.counters.add("replayed", len(spooled))
            if batch:
                await self.store.write(batch)
                self.counters.add("written", len(batch))
            return True
        except Exception as error:  # the store is down or rejected the batch: keep the events
            self.counters.add("failures", 1)
            logger.warning("luthien sink %s: write failed (%s); spooling %d events", self.name, error, len(batch))
            self._to_spool(batch)
            await self._reset_store()
            return False

    def _to_spool(self, batch: list[RecordedEvent]) -> None:
        if batch:
            self._caught_up.clear()
            self.spool.append(batch)
            self.counters.add("spooled", len(batch))

    async def _reset_store(self) -> None:
        try:
            await self.store.close()
        except Exception as error:
            logger.debug("luthien sink %s: close after failure: %s", self.name, error)

    async def _wait(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
