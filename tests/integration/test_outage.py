"""Nothing lost, nothing duplicated: a sink is cut off in the middle of a stream of transactions
(through a TCP fault proxy: open connections dropped, new ones refused), then comes back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis.asyncio as redis

from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.storage import RecordingPipeline, build_recording_pipeline
from tests.integration import queries
from tests.integration.conftest import REDIS_URL, RedisNames, fast_settings, through
from tests.integration.events_fixture import many_transactions
from tests.integration.fault_proxy import FaultProxy
from tests.integration.waits import until

pytestmark = pytest.mark.integration
TRANSACTIONS = 150


async def stream_through_outage(pipeline: RecordingPipeline, sink: str, fault: FaultProxy) -> list[RecordedEvent]:
    """Submit TRANSACTIONS transactions, yielding to the writers as a proxy would; the sink is cut
    after the first third (while batches are in flight) and healed after the second."""
    submitted = many_transactions(TRANSACTIONS)
    per_transaction = len(submitted) // TRANSACTIONS
    for index, event in enumerate(submitted):
        if index == per_transaction * TRANSACTIONS // 3:
            await until(lambda: pipeline.counters[sink].written > 0)  # it was working
            await fault.cut()
        if index == per_transaction * 2 * TRANSACTIONS // 3:
            await pipeline.flush()  # everything so far is in the sink or in the spool
            assert pipeline.counters[sink].spooled > 0
            await fault.heal()
        pipeline.submit(event)
        if index % per_transaction == 0:
            await asyncio.sleep(0.002)  # pacing, not synchronisation: a transaction every ~2 ms
    await asyncio.wait_for(pipeline.settle(), timeout=60)
    await pipeline.aclose()
    return submitted


async def test_postgres_outage_mid_stream(tmp_path: Path, postgres_dsn: str, postgres_fault: FaultProxy) -> None:
    settings = fast_settings(tmp_path, database_url=through(postgres_dsn, postgres_fault))
    pipeline = build_recording_pipeline(settings)
    await pipeline.start()
    submitted = await stream_through_outage(pipeline, "postgres", postgres_fault)

    queries.assert_same_events(await queries.postgres_events(postgres_dsn), submitted)  # each exactly once
    queries.assert_same_rows(
        await queries.postgres_transactions(postgres_dsn), queries.expected_transactions(submitted)
    )
    stats = pipeline.counters["postgres"]
    assert stats.dropped == 0 and stats.spooled > 0 and stats.replayed > 0 and stats.failures > 0
    assert stats.replayed == stats.spooled and stats.written + stats.replayed == len(submitted)
    assert postgres_fault.connections > 1  # it reconnected
    assert not list((tmp_path / "spool").rglob("*.jsonl"))


async def test_redis_outage_mid_stream(
    tmp_path: Path, redis_names: RedisNames, redis_fault: FaultProxy, redis_client: redis.Redis
) -> None:
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(redis_names.channel)
    settings = fast_settings(
        tmp_path,
        redis_url=through(REDIS_URL, redis_fault),
        redis_stream=redis_names.stream,
        redis_channel=redis_names.channel,
    )
    pipeline = build_recording_pipeline(settings)
    await pipeline.start()
    submitted = await stream_through_outage(pipeline, "redis", redis_fault)

    on_stream = await queries.stream_events(redis_client, redis_names.stream)
    assert [e["event_id"] for e in on_stream] == [e.event_id for e in submitted]  # all, once each, in order
    on_channel: list[str] = []
    async with asyncio.timeout(10):
        while len(on_channel) < len(submitted):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            if message is not None:
                on_channel.append(json.loads(message["data"])["event_id"])
    assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2) is None  # and no more
    await pubsub.aclose()
    assert on_channel == [e.event_id for e in submitted]
    stats = pipeline.counters["redis"]
    assert stats.dropped == 0 and stats.spooled > 0 and stats.replayed > 0
    assert stats.replayed == stats.spooled and stats.written + stats.replayed == len(submitted)
    # the database sink was never cut: it wrote everything straight away
    assert pipeline.counters["sqlite"].written == len(submitted)
