"""The Redis live feed on the real Redis: stream and channel, exactly once across an outage."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import pytest
import redis.asyncio as redis

from luthien_litellm_plugin.storage.redis_feed import RedisFeed
from luthien_litellm_plugin.storage.spool import Spool
from luthien_litellm_plugin.storage.writer import SinkWriter
from tests.integration.conftest import require_service
from tests.integration.events_fixture import transaction_events
from tests.integration.fault_proxy import FaultProxy, submit_through_outage

pytestmark = pytest.mark.integration
URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def names() -> tuple[str, str]:
    require_service("Redis", "127.0.0.1", 6379)
    suffix = secrets.token_hex(4)
    return f"luthien:test:{suffix}:events", f"luthien:test:{suffix}:channel"


async def test_events_are_streamed_and_published(names: tuple[str, str]) -> None:
    stream, channel = names
    client = redis.from_url(URL)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    feed = RedisFeed(URL, stream=stream, channel=channel)
    await feed.open()
    batch = transaction_events("t1")
    await feed.write(batch)
    await feed.write(batch)  # replayed: not duplicated
    await feed.close()
    entries = await client.xrange(stream)
    published = [await pubsub.get_message(timeout=2) for _ in batch]
    await pubsub.aclose()
    await client.delete(stream)
    await client.aclose()
    assert [json.loads(fields[b"event"])["event_id"] for _, fields in entries] == [e.event_id for e in batch]
    first = json.loads(entries[0][1][b"event"])
    assert {"event_id", "transaction_id", "event_type", "payload", "created_at"} <= set(first)
    assert [json.loads(m["data"])["event_type"] for m in published if m] == [e.event_type for e in batch]


async def test_redis_outage_mid_stream_delivers_every_event_exactly_once(
    tmp_path: Path, names: tuple[str, str]
) -> None:
    stream, channel = names
    fault = FaultProxy(6379)
    await fault.start()
    writer = SinkWriter(
        RedisFeed(f"redis://127.0.0.1:{fault.port}/0", stream=stream, channel=channel),
        Spool(tmp_path, "redis"),
        batch_size=10,
        max_backoff_seconds=0.2,
    )
    writer.start()
    submitted = await submit_through_outage(writer, fault, 30)
    await asyncio.wait_for(writer.settle(), timeout=30)
    await writer.aclose()
    await fault.cut()
    client = redis.from_url(URL)
    entries = await client.xrange(stream)
    await client.delete(stream)
    await client.aclose()
    delivered = [json.loads(fields[b"event"])["event_id"] for _, fields in entries]
    assert delivered == submitted  # all of them, once each, in order
    assert writer.counters.dropped == 0 and writer.counters.replayed > 0
