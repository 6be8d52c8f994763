"""RecordingPipeline: fan-out to every sink, start (awaited or not), counters, construction."""

from __future__ import annotations

import asyncio
from pathlib import Path

from luthien_litellm_plugin.events import EventSink
from luthien_litellm_plugin.storage import RecordingPipeline, SinkStats, StorageSettings, build_recording_pipeline
from luthien_litellm_plugin.storage.postgres import PostgresStore
from luthien_litellm_plugin.storage.redis_feed import RedisFeed
from luthien_litellm_plugin.storage.spool import Spool
from luthien_litellm_plugin.storage.sqlite import SqliteStore
from luthien_litellm_plugin.storage.writer import SinkWriter
from tests.unit.storage.fakes import FakeStore, ids, make_events


class OtherFakeStore(FakeStore):
    name = "other"


def pipeline_of(*stores: FakeStore, spool_dir: Path) -> RecordingPipeline:
    return RecordingPipeline([SinkWriter(store, Spool(spool_dir, store.name), batch_size=10) for store in stores])


async def test_every_sink_gets_every_event(tmp_path: Path) -> None:
    first, second = FakeStore(), OtherFakeStore()
    pipeline = pipeline_of(first, second, spool_dir=tmp_path)
    sink: EventSink = pipeline
    await pipeline.start()
    events = make_events(23)
    for event in events:
        sink.submit(event)
    await pipeline.settle()
    await pipeline.aclose()
    assert first.ids == ids(events) and second.ids == ids(events)
    assert pipeline.counters == {
        "fake": SinkStats("fake", written=23),
        "other": SinkStats("other", written=23),
    }


async def test_one_sink_down_does_not_hold_back_the_other(tmp_path: Path) -> None:
    up, down = FakeStore(), OtherFakeStore()
    down.down = True
    pipeline = pipeline_of(up, down, spool_dir=tmp_path)
    await pipeline.start()
    events = make_events(30)
    for event in events:
        pipeline.submit(event)
    await pipeline.flush()  # in the sink or in the spool, for both
    await pipeline.writer("fake").settle()
    assert up.ids == ids(events) and down.events == []
    assert pipeline.counters["other"].spooled == 30
    down.down = False
    await asyncio.wait_for(pipeline.settle(), timeout=10)
    await pipeline.aclose()
    assert down.ids == ids(events)
    assert pipeline.counters["other"].replayed == 30 and pipeline.counters["other"].dropped == 0


async def test_start_works_unawaited_and_as_a_context_manager(tmp_path: Path) -> None:
    store = FakeStore()
    pipeline = pipeline_of(store, spool_dir=tmp_path)
    ready = pipeline.start()  # what the proxy bootstrap does while loading its config
    await ready
    async with pipeline:
        pipeline.submit(make_events(1)[0])
    assert len(store.events) == 1


def test_build_recording_pipeline_follows_the_settings(tmp_path: Path) -> None:
    default = build_recording_pipeline(StorageSettings(spool_dir=str(tmp_path)))
    [writer] = default.writers
    assert isinstance(writer.store, SqliteStore) and str(writer.store.path) == "luthien.db"
    settings = StorageSettings(
        database_url="postgresql://u@h/db",
        postgres_schema="recording",
        redis_url="redis://h:6379/0",
        redis_stream="s",
        redis_channel="c",
        redis_stream_maxlen=10,
        spool_dir=str(tmp_path),
    )
    postgres, redis = (writer.store for writer in build_recording_pipeline(settings).writers)
    assert isinstance(postgres, PostgresStore) and postgres.schema == "recording"
    assert isinstance(redis, RedisFeed) and (redis.stream, redis.channel, redis.maxlen) == ("s", "c", 10)
