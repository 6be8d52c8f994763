"""A process whose sinks were down leaves its events in the spool; the next process replays them."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as redis

from luthien_litellm_plugin.storage import build_recording_pipeline
from tests.integration import queries
from tests.integration.conftest import REDIS_URL, RedisNames, fast_settings, through
from tests.integration.events_fixture import many_transactions
from tests.integration.fault_proxy import FaultProxy

pytestmark = pytest.mark.integration


async def test_the_spool_of_a_stopped_process_is_replayed_by_the_next(
    tmp_path: Path,
    postgres_dsn: str,
    postgres_fault: FaultProxy,
    redis_names: RedisNames,
    redis_fault: FaultProxy,
    redis_client: redis.Redis,
) -> None:
    names = {"redis_stream": redis_names.stream, "redis_channel": redis_names.channel}
    await postgres_fault.cut()
    await redis_fault.cut()
    down = fast_settings(
        tmp_path,
        database_url=through(postgres_dsn, postgres_fault),
        redis_url=through(REDIS_URL, redis_fault),
        **names,
    )
    first = build_recording_pipeline(down)
    await first.start()  # both sinks unreachable: start does not fail, events are spooled
    submitted = many_transactions(40)
    for event in submitted:
        first.submit(event)
    await first.aclose()
    for sink in ("postgres", "redis"):
        stats = first.counters[sink]
        assert (stats.written, stats.spooled, stats.dropped) == (0, len(submitted), 0)
    assert len(list((tmp_path / "spool").rglob("*.jsonl"))) > 0

    up = fast_settings(tmp_path, database_url=postgres_dsn, redis_url=REDIS_URL, **names)
    second = build_recording_pipeline(up)  # the restarted process, same spool_dir
    await second.start()
    await second.settle()
    await second.aclose()

    queries.assert_same_events(await queries.postgres_events(postgres_dsn), submitted)
    queries.assert_same_rows(
        await queries.postgres_transactions(postgres_dsn), queries.expected_transactions(submitted)
    )
    on_stream = await queries.stream_events(redis_client, redis_names.stream)
    assert [e["event_id"] for e in on_stream] == [e.event_id for e in submitted]
    for sink in ("postgres", "redis"):
        stats = second.counters[sink]
        assert (stats.replayed, stats.written, stats.dropped) == (len(submitted), 0, 0)
    assert not list((tmp_path / "spool").rglob("*.jsonl"))
