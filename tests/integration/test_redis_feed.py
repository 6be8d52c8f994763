"""The Redis live feed on the real Redis: stream and channel contents, exactly once, MAXLEN."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis.asyncio as redis

from luthien_litellm_plugin.storage import build_recording_pipeline
from luthien_litellm_plugin.storage.redis_feed import RedisFeed
from tests.integration import queries
from tests.integration.conftest import REDIS_URL, RedisNames, fast_settings
from tests.integration.events_fixture import TERMINAL_STATUSES, many_transactions, transaction_events

pytestmark = pytest.mark.integration


async def published(pubsub: redis.client.PubSub, count: int, timeout: float = 5.0) -> list[dict[str, object]]:
    """The next `count` messages on a subscribed channel (bounded by `timeout`)."""
    messages: list[dict[str, object]] = []
    async with asyncio.timeout(timeout):
        while len(messages) < count:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
            if message is not None:
                messages.append(json.loads(message["data"]))
    return messages


async def test_every_event_is_streamed_and_published_as_json(
    tmp_path: Path, redis_names: RedisNames, redis_client: redis.Redis
) -> None:
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(redis_names.channel)
    submitted = [e for status in TERMINAL_STATUSES for e in transaction_events(f"t-{status}", status)]
    settings = fast_settings(
        tmp_path, redis_url=REDIS_URL, redis_stream=redis_names.stream, redis_channel=redis_names.channel
    )
    pipeline = build_recording_pipeline(settings)
    await pipeline.start()
    for event in submitted:
        pipeline.submit(event)
    await pipeline.aclose()
    on_stream = await queries.stream_events(redis_client, redis_names.stream)
    on_channel = await published(pubsub, len(submitted))
    await pubsub.aclose()
    expected = [json.loads(json.dumps(e.as_record())) for e in submitted]
    assert on_stream == expected  # in submission order, each once, every field
    assert on_channel == expected
    assert {"event_id", "transaction_id", "event_type", "payload", "created_at"} <= set(on_stream[0])
    assert pipeline.counters["redis"].written == len(submitted)


async def test_a_batch_written_twice_appears_once(redis_names: RedisNames, redis_client: redis.Redis) -> None:
    feed = RedisFeed(REDIS_URL, stream=redis_names.stream, channel=redis_names.channel)
    await feed.open()
    batch = transaction_events("t1")
    await feed.write(batch, batch_id="b1")
    await feed.write(batch, batch_id="b1")  # written again by the same writer
    await feed.close()
    restarted = RedisFeed(REDIS_URL, stream=redis_names.stream, channel=redis_names.channel)
    await restarted.open()
    await restarted.write(batch, batch_id="b1")  # replayed from the spool by the next process
    await restarted.write(transaction_events("t2"), batch_id="b2")
    await restarted.close()
    on_stream = await queries.stream_events(redis_client, redis_names.stream)
    assert [e["transaction_id"] for e in on_stream] == ["t1"] * len(batch) + ["t2"] * len(batch)


async def test_batch_markers_do_not_accumulate(redis_names: RedisNames, redis_client: redis.Redis) -> None:
    feed = RedisFeed(REDIS_URL, stream=redis_names.stream, channel=redis_names.channel, dedupe_ttl_seconds=60)
    await feed.open()
    for index in range(20):
        await feed.write(transaction_events(f"t{index}"), batch_id=f"b{index}")
    await feed.close()
    markers = [key async for key in redis_client.scan_iter(f"{redis_names.stream}:batch:*")]
    assert markers == [f"{redis_names.stream}:batch:b19".encode()]  # only the last one, until it expires
    assert 0 < await redis_client.ttl(markers[0]) <= 60


async def test_the_stream_is_capped_approximately(redis_names: RedisNames, redis_client: redis.Redis) -> None:
    feed = RedisFeed(REDIS_URL, stream=redis_names.stream, channel=redis_names.channel, maxlen=100)
    await feed.open()
    events = many_transactions(500)
    for start in range(0, len(events), 250):
        await feed.write(events[start : start + 250], batch_id=f"b{start}")
    await feed.close()
    length = await redis_client.xlen(redis_names.stream)
    assert 100 <= length < 400  # MAXLEN ~ trims whole macro-nodes: about, never below, 100
    last = (await queries.stream_events(redis_client, redis_names.stream))[-1]
    assert last["event_id"] == events[-1].event_id
