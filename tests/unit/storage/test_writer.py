"""SinkWriter against a fake store: batching, order, outages, overflow, shutdown, restart, states."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest

from luthien_litellm_plugin.storage.spool import Spool
from luthien_litellm_plugin.storage.writer import Health, Lifecycle, SinkWriter
from tests.unit.storage.fakes import FakeStore, ids, make_events


def writer_for(store: FakeStore, spool_dir: Path, **options: float) -> SinkWriter:
    settings: dict[str, float] = {"batch_size": 10, "flush_interval_seconds": 0.01, "max_backoff_seconds": 0.05}
    settings.update(options)
    return SinkWriter(
        store,
        Spool(spool_dir, store.name),
        buffer_size=int(settings.pop("buffer_size", 1000)),
        batch_size=int(settings.pop("batch_size")),
        **settings,
    )


async def restart(store: FakeStore, spool_dir: Path) -> SinkWriter:
    """A restarted process: a new writer adopts the spool left in `spool_dir`, replays it, closes."""
    writer = writer_for(store, spool_dir)
    await writer.start()
    await writer.settle()
    await writer.aclose()
    return writer


def refuse_spooling(writer: SinkWriter, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Fill the disk under `writer`'s spool (until `monkeypatch.undo()`); the event is set at each
    refusal (the spooler writes in a thread)."""
    loop = asyncio.get_running_loop()
    refused = asyncio.Event()

    def disk_full(*_: object) -> None:
        loop.call_soon_threadsafe(refused.set)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer.spool, "write", disk_full)
    return refused


async def test_writes_in_batches_of_batch_size(tmp_path: Path) -> None:
    store = FakeStore()
    writer = writer_for(store, tmp_path, batch_size=10)
    await writer.start()
    events = make_events(25)
    for event in events:
        writer.submit(event)
    await writer.settle()
    await writer.aclose()
    assert store.ids == ids(events)
    assert store.batches == [10, 10, 5]
    assert writer.stats().written == 25 and writer.stats().spooled == 0


async def test_a_partial_batch_is_written_after_the_flush_interval(tmp_path: Path) -> None:
    store = FakeStore()
    writer = writer_for(store, tmp_path, batch_size=100, flush_interval_seconds=0.05)
    await writer.start()
    started = time.monotonic()
    for event in make_events(3):
        writer.submit(event)
    await asyncio.wait_for(store.wrote.wait(), timeout=2)
    waited = time.monotonic() - started
    await writer.aclose()
    assert store.batches[0] == 3
    assert 0.04 <= waited < 1.0


def test_submit_before_start_buffers_without_an_event_loop(tmp_path: Path) -> None:
    store = FakeStore()
    writer = writer_for(store, tmp_path, buffer_size=5)
    events = make_events(12)
    for event in events:  # no event loop at all: nothing can be written yet
        writer.submit(event)
    assert store.events == []
    assert writer.stats().spooled > 0  # past the buffer size the rest went to the spool
    assert writer.buffered + writer.stats().spooled == 12

    async def run() -> None:
        await writer.start()
        await writer.settle()
        await writer.aclose()

    asyncio.run(run())
    assert store.ids == ids(events)  # spool first, then memory: submission order
    stats = writer.stats()
    assert stats.replayed == stats.spooled and stats.written == 12 - stats.spooled and stats.dropped == 0


async def test_the_first_event_starts_the_writer_when_a_loop_runs(tmp_path: Path) -> None:
    store = FakeStore()
    writer = writer_for(store, tmp_path)
    events = make_events(3)
    for event in events:
        writer.submit(event)
    await writer.settle()
    await writer.aclose()
    assert store.ids == ids(events)


async def test_outage_spools_then_replays_in_order_exactly_once(tmp_path: Path) -> None:
    store = FakeStore()
    writer = writer_for(store, tmp_path)
    await writer.start()
    events = make_events(300)
    for index, event in enumerate(events):
        if index == 100:
            await writer.settle()
            store.down = True
        if index == 200:
            await writer.flush()  # everything so far is in the store or the spool
            assert writer.stats().spooled > 0
            store.down = False
        writer.submit(event)
        if index % 7 == 0:
            await asyncio.sleep(0)  # let the writer run while events keep coming
    await asyncio.wait_for(writer.settle(), timeout=10)
    await writer.aclose()
    assert store.ids == ids(events)
    stats = writer.stats()
    assert stats.dropped == 0 and stats.spooled > 0 and stats.replayed == stats.spooled
    assert stats.written + stats.replayed == 300
    assert writer.spool.empty and not list((tmp_path / "fake").iterdir())


async def test_a_batch_whose_outcome_is_unknown_is_not_duplicated(tmp_path: Path) -> None:
    store = FakeStore()
    writer = writer_for(store, tmp_path)
    await writer.start()
    store.lose_replies = True  # applied, but the writer sees a failure and spools the batch
    events = make_events(10)
    for event in events:
        writer.submit(event)
    await writer.flush()
    assert writer.stats().spooled == 10
    store.lose_replies = False
    await asyncio.wait_for(writer.settle(), timeout=10)
    await writer.aclose()
    assert store.ids == ids(events)  # the replay carried the same batch id: applied once


async def test_retries_back_off_instead_of_following_the_event_rate(tmp_path: Path) -> None:
    store = FakeStore(down=True)
    writer = writer_for(store, tmp_path, flush_interval_seconds=0.05, max_backoff_seconds=1.0)
    await writer.start()
    started = time.monotonic()
    for event in make_events(500):
        writer.submit(event)
        await asyncio.sleep(0)
    await writer.flush()
    elapsed = time.monotonic() - started
    await writer.aclose()
    assert writer.stats().spooled == 500 and writer.stats().dropped == 0
    # one try per backoff period (at least 25 ms, doubling), not one per event
    assert store.attempts <= 3 + elapsed / 0.025


async def test_a_slow_sink_overflows_to_the_spool_and_memory_stays_bounded(tmp_path: Path) -> None:
    store = FakeStore()
    store.gate = asyncio.Event()  # every write hangs until the gate opens
    writer = writer_for(store, tmp_path, buffer_size=40, batch_size=10)
    await writer.start()
    events = make_events(400)
    peak = 0
    for event in events:
        writer.submit(event)
        await asyncio.sleep(0)
        peak = max(peak, len(writer._memory))
    deadline = time.monotonic() + 5
    while writer.stats().spooled < 300 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)  # deadline-bounded: the spiller writes in a thread
    assert writer.stats().spooled >= 300
    assert peak <= 2 * 40  # past twice the buffer size, submit itself moves events to the spool
    store.gate.set()
    await asyncio.wait_for(writer.settle(), timeout=10)
    await writer.aclose()
    assert store.ids == ids(events)
    stats = writer.stats()
    assert stats.dropped == 0 and stats.replayed == stats.spooled


async def test_aclose_drains_the_buffer_into_the_store(tmp_path: Path) -> None:
    store = FakeStore()
    writer = writer_for(store, tmp_path, batch_size=1000, flush_interval_seconds=10)
    await writer.start()
    events = make_events(50)
    for event in events:
        writer.submit(event)
    await writer.aclose()  # no flush first: the 10 s batching wait must not hold events back
    assert store.ids == ids(events)
    assert writer.stats().written == 50


async def test_aclose_with_the_store_down_spools_and_the_next_start_replays(tmp_path: Path) -> None:
    store = FakeStore(down=True)
    first = writer_for(store, tmp_path)
    await first.start()
    events = make_events(35)
    for event in events:
        first.submit(event)
    await first.aclose()
    assert first.stats().spooled == 35 and store.events == []
    assert len(list((tmp_path / "fake").rglob("*.jsonl"))) > 0

    store.down = False
    second = await restart(store, tmp_path)
    assert store.ids == ids(events)
    assert second.stats().replayed == 35 and second.stats().dropped == 0
    assert not list((tmp_path / "fake").rglob("*.jsonl"))


async def test_events_submitted_after_aclose_are_spooled_not_lost(tmp_path: Path) -> None:
    store = FakeStore()
    first = writer_for(store, tmp_path)
    await first.start()
    await first.aclose()
    late = make_events(3, prefix="late")
    for event in late:
        first.submit(event)
    assert first.stats().spooled == 3
    first.spool.close()  # what process exit does
    await restart(store, tmp_path)
    assert store.ids == ids(late)


def test_spool_buffered_saves_memory_and_in_flight_batches_at_exit(tmp_path: Path) -> None:
    store = FakeStore()
    writer = writer_for(store, tmp_path, batch_size=10)
    events = make_events(45)

    async def die_mid_write() -> None:
        store.gate = asyncio.Event()  # the first batch hangs in flight
        await writer.start()
        for event in events:
            writer.submit(event)
        await store.entered.wait()  # its first batch is in flight; then the loop goes away

    asyncio.run(die_mid_write())  # cancels the writer tasks, like a process being torn down
    assert store.events == []
    writer.spool_buffered()  # the atexit hook
    writer.spool.close()
    assert writer.stats().spooled == 45

    replay = FakeStore()
    asyncio.run(restart(replay, tmp_path))
    assert replay.ids == ids(events)


async def test_an_invalid_event_is_set_aside_and_the_rest_written(tmp_path: Path) -> None:
    store = FakeStore()
    events = make_events(20)
    store.refuse = {events[7].event_id}
    writer = writer_for(store, tmp_path)
    await writer.start()
    for event in events:
        writer.submit(event)
    await writer.settle()
    await writer.aclose()
    assert store.ids == [e.event_id for e in events if e is not events[7]]
    stats = writer.stats()
    assert (stats.rejected, stats.dropped, stats.written) == (1, 0, 19)
    [line] = (tmp_path / "fake" / "rejected.jsonl").read_text().splitlines()
    assert json.loads(line)["event"]["event_id"] == events[7].event_id


async def test_counters_snapshot_is_a_copy(tmp_path: Path) -> None:
    store = FakeStore()
    writer = writer_for(store, tmp_path)
    await writer.start()
    before = writer.stats()
    writer.submit(make_events(1)[0])
    await writer.settle()
    await writer.aclose()
    assert before.written == 0 and writer.stats().written == 1


async def test_when_the_disk_refuses_the_spool_events_wait_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStore(down=True)
    writer = writer_for(store, tmp_path)
    refuse_spooling(writer, monkeypatch)
    await writer.start()
    events = make_events(30)
    for event in events:
        writer.submit(event)
        await asyncio.sleep(0)
    assert writer.stats().spooled == 0 and writer.buffered == 30  # nowhere to go: kept
    store.down = False
    await asyncio.wait_for(writer.settle(), timeout=10)
    await writer.aclose()
    assert store.ids == ids(events)
    stats = writer.stats()
    assert (stats.written, stats.dropped) == (30, 0) and stats.failures > 0


async def test_the_lifecycle_and_health_of_a_writer(tmp_path: Path) -> None:
    store = FakeStore()
    writer = writer_for(store, tmp_path)
    assert (writer.lifecycle, writer.health) == (Lifecycle.NEW, Health.UNKNOWN)
    await writer.start()
    assert (writer.lifecycle, writer.health) == (Lifecycle.RUNNING, Health.UP)
    writer.submit(make_events(1)[0])
    await asyncio.gather(writer.aclose(), writer.aclose())  # a second aclose() waits for the first
    assert writer.lifecycle is Lifecycle.CLOSED and writer.stats().written == 1


async def test_a_sink_down_at_start_comes_up_and_replays_its_backlog_before_newer_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FakeStore(down=True)
    writer = writer_for(store, tmp_path)
    with caplog.at_level(logging.INFO, logger="luthien_litellm_plugin.storage"):
        await writer.start()
        assert writer.health is Health.DOWN
        older = make_events(30, prefix="old")
        for event in older:
            writer.submit(event)
        await writer.flush()
        assert writer.stats().spooled == 30
        store.gate = asyncio.Event()
        store.down = False
        await store.entered.wait()  # the replay of the backlog has begun, and hangs
        newer = make_events(20, prefix="new")
        for event in newer:
            writer.submit(event)
        store.gate.set()
        await asyncio.wait_for(writer.settle(), timeout=10)
        assert writer.health is Health.UP
        await writer.aclose()
    assert store.ids == ids(older + newer)
    stats = writer.stats()
    assert stats.replayed == stats.spooled >= 30 and stats.written + stats.replayed == 50 and stats.dropped == 0
    assert caplog.text.count("not reachable at start") == 1 and caplog.text.count("reachable again") == 1


async def test_overflow_while_the_sink_is_down_keeps_memory_bounded(tmp_path: Path) -> None:
    store = FakeStore(down=True)
    writer = writer_for(store, tmp_path, buffer_size=20, batch_size=10)
    await writer.start()
    events = make_events(200)
    for event in events:  # never yielding: the spooler cannot run, submit spools the excess itself
        writer.submit(event)
        assert writer.buffered <= 2 * 20
    assert writer.stats().spooled >= 200 - 2 * 20
    await writer.flush()
    assert writer.stats().spooled == 200
    store.down = False
    await asyncio.wait_for(writer.settle(), timeout=10)
    await writer.aclose()
    assert store.ids == ids(events)
    assert (writer.stats().replayed, writer.stats().written, writer.stats().dropped) == (200, 0, 0)


async def test_closing_while_down_spools_even_batches_the_disk_refused_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStore(down=True)
    writer = writer_for(store, tmp_path)
    refused = refuse_spooling(writer, monkeypatch)
    await writer.start()
    events = make_events(35)
    for event in events:
        writer.submit(event)
    await refused.wait()  # the spooler tried: its batch is back in memory
    assert writer.buffered == 35
    monkeypatch.undo()  # space again
    await writer.aclose()
    stats = writer.stats()
    assert writer.lifecycle is Lifecycle.CLOSED and writer.buffered == 0
    assert (stats.spooled, stats.dropped, store.events) == (35, 0, [])

    store.down = False
    await restart(store, tmp_path)
    assert store.ids == ids(events)


async def test_closing_with_a_backlog_puts_memory_in_the_spool_while_the_backlog_is_replayed(tmp_path: Path) -> None:
    store = FakeStore(down=True)
    first = writer_for(store, tmp_path)
    older = make_events(20, prefix="old")
    for event in older:
        first.submit(event)
    await first.aclose()  # a previous process, its sink down: its events wait in the spool
    store.down = False
    store.gate = asyncio.Event()
    writer = writer_for(store, tmp_path)
    await writer.start()
    await store.entered.wait()  # replaying the backlog, hung
    assert writer.health is Health.UP
    newer = make_events(15, prefix="new")
    for event in newer:
        writer.submit(event)
    closing = asyncio.create_task(writer.aclose())
    await asyncio.wait_for(writer.flush(), timeout=10)  # draining behind a backlog: memory is made durable meanwhile
    assert writer.stats().spooled == 15 and store.events == []
    store.gate.set()
    await closing
    assert store.ids == ids(older + newer)
    assert writer.stats().replayed == 35 and writer.spool.empty
