"""Recording throughput per store (events/s with batching) and the request-path cost of submit.

Needs the local PostgreSQL and Redis (scripts/services). Run: `.venv/bin/python bench/bench_sinks.py`.
Uses a throwaway Postgres schema and Redis stream, removed afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from pathlib import Path

import asyncpg
import redis.asyncio as redis

from luthien_litellm_plugin.observability.context import DefaultObservabilityContext
from luthien_litellm_plugin.observability.events import RecordedEvent
from luthien_litellm_plugin.storage.postgres import PostgresStore
from luthien_litellm_plugin.storage.redis_feed import RedisFeed
from luthien_litellm_plugin.storage.spool import Spool
from luthien_litellm_plugin.storage.sqlite import SqliteStore
from luthien_litellm_plugin.storage.store import EventStore
from luthien_litellm_plugin.storage.writer import SinkWriter

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
EVENTS = 50_000
PAYLOAD = {"status": "success", "model": "gpt-4o", "policy": "p", "usage": {"total_tokens": 42}, "text": "x" * 200}


def events(count: int) -> list[RecordedEvent]:
    return [RecordedEvent(f"t{i // 4}", "policy.decision", PAYLOAD, sequence=i % 4) for i in range(count)]


async def throughput(store: EventStore, spool_dir: Path) -> float:
    writer = SinkWriter(store, Spool(spool_dir, store.name), buffer_size=EVENTS + 1, batch_size=2_000)
    await store.open()
    batch = events(EVENTS)
    writer.start()
    started = time.perf_counter()
    for event in batch:
        writer.submit(event)
    await writer.settle()
    elapsed = time.perf_counter() - started
    await writer.aclose()
    assert writer.counters.written == EVENTS and writer.counters.dropped == 0
    return EVENTS / elapsed


async def submit_cost(spool_dir: Path) -> tuple[float, float]:
    """µs per `submit` into a running writer, and per `emit_event` (payload scrub + event + submit)."""
    store = SqliteStore(spool_dir / "cost.db")
    writer = SinkWriter(store, Spool(spool_dir, "cost"), buffer_size=1_000_000, batch_size=5_000)
    writer.start()
    batch = events(200_000)
    started = time.perf_counter_ns()
    for event in batch:
        writer.submit(event)
    submit_us = (time.perf_counter_ns() - started) / len(batch) / 1000
    from opentelemetry.trace import INVALID_SPAN

    context = DefaultObservabilityContext("t", INVALID_SPAN, db_pool=writer)
    started = time.perf_counter_ns()
    for _ in range(100_000):
        context.emit_event_nowait("policy.decision", PAYLOAD)
    emit_us = (time.perf_counter_ns() - started) / 100_000 / 1000
    await writer.aclose()
    return submit_us, emit_us


async def main() -> None:
    schema = f"luthien_bench_{secrets.token_hex(3)}"
    stream = f"luthien:bench:{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory() as directory:
        spool = Path(directory)
        results = {
            "postgres": await throughput(PostgresStore(POSTGRES, schema=schema), spool),
            "sqlite": await throughput(SqliteStore(spool / "bench.db"), spool),
            "redis": await throughput(RedisFeed(REDIS, stream=stream, channel=stream), spool),
        }
        submit_us, emit_us = await submit_cost(spool)
    connection = await asyncpg.connect(POSTGRES)
    await connection.execute(f"DROP SCHEMA {schema} CASCADE")
    await connection.close()
    client = redis.from_url(REDIS)
    await client.delete(stream)
    seen = [key async for key in client.scan_iter(f"{stream}:seen:*", count=10_000)]
    for start in range(0, len(seen), 10_000):
        await client.delete(*seen[start : start + 10_000])
    await client.aclose()
    print(f"{EVENTS} events of ~300 bytes each, batches of 2,000")
    print(f"{'store':10} {'events/s':>10}")
    for name, rate in results.items():
        print(f"{name:10} {rate:10,.0f}")
    print(f"submit into a running writer: {submit_us:.2f} µs/event")
    print(f"emit_event (scrub + event + submit): {emit_us:.2f} µs/event")


if __name__ == "__main__":
    asyncio.run(main())
