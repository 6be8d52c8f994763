"""Recording throughput per sink (events/s with batching) and the request-path cost of `submit`.

Needs the local PostgreSQL and Redis (scripts/services). Run: `.venv/bin/python bench/bench_sinks.py`.
Uses a throwaway Postgres schema, SQLite file, spool directory and Redis stream, removed afterwards.

Events are a realistic mix: per transaction `request_recorded` (request bodies), a policy event,
`streaming_response_recorded` (response bodies) and `completed`; three of four events also
upsert the `transactions` row. Throughput = events written per second by one writer draining a
full buffer (what one proxy worker's sink sustains).
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import redis.asyncio as redis
from opentelemetry.trace import INVALID_SPAN

from luthien_litellm_plugin import events as kinds
from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.observability.context import DefaultObservabilityContext
from luthien_litellm_plugin.storage import StorageSettings, build_recording_pipeline
from luthien_litellm_plugin.storage.postgres import PostgresStore
from luthien_litellm_plugin.storage.redis_feed import RedisFeed
from luthien_litellm_plugin.storage.spool import Spool
from luthien_litellm_plugin.storage.sqlite import SqliteStore
from luthien_litellm_plugin.storage.store import EventStore
from luthien_litellm_plugin.storage.writer import SinkWriter
from luthien_litellm_plugin.types import JSONObject

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
EVENTS = 100_000
SUBMITS = 200_000
BATCH_SIZES = (500, 2_000)

REQUEST: JSONObject = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me a story. " * 8}]}
RESPONSE: JSONObject = {"choices": [{"message": {"role": "assistant", "content": "Once upon a time " * 12}}]}
USAGE: JSONObject = {"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 100}


def transaction(index: int) -> list[RecordedEvent]:
    tid = f"bench-{index}"
    now = time.time()
    identity: JSONObject = {"model": "gpt-4o", "policy": "p", "call_id": tid, "is_streaming": True, "started_at": now}
    payloads: list[tuple[str, JSONObject]] = [
        (kinds.TRANSACTION_REQUEST_RECORDED, {**identity, "original_request": REQUEST, "final_request": REQUEST}),
        ("policy.decision", {"policy": "p", "action": "allow"}),
        (
            kinds.TRANSACTION_STREAMING_RESPONSE_RECORDED,
            {"original_response": RESPONSE, "final_response": RESPONSE, "usage": USAGE, "ingress_chunks": 20},
        ),
        (
            kinds.TRANSACTION_COMPLETED,
            {**identity, "status": "success", "error": None, "finished_at": now + 1, "duration_ms": 1000.0}
            | {"time_to_first_byte_ms": 80.0, "usage": USAGE},
        ),
    ]
    return [RecordedEvent(tid, kind, payload, sequence=i) for i, (kind, payload) in enumerate(payloads)]


def workload(count: int) -> list[RecordedEvent]:
    return [event for index in range(count // 4) for event in transaction(index)]


async def throughput(store: EventStore, spool_dir: Path, batch_size: int, batch: list[RecordedEvent]) -> float:
    """Events/s written by one writer draining `batch` (store opened and migrated beforehand)."""
    writer = SinkWriter(store, Spool(spool_dir, store.name), buffer_size=len(batch) + 1, batch_size=batch_size)
    await writer.start()
    started = time.perf_counter()
    for event in batch:
        writer.submit(event)
    await writer.settle()
    elapsed = time.perf_counter() - started
    await writer.aclose()
    stats = writer.stats()
    assert stats.written == len(batch) and stats.spooled == 0 and stats.dropped == 0, stats
    return len(batch) / elapsed


async def submit_cost(settings: StorageSettings) -> tuple[float, float, float]:
    """Median µs per event of: `RecordingPipeline.submit` (Postgres + Redis writers running),
    a single writer's `submit`, and the engine's `emit_event` (scrub + event + submit)."""
    pipeline = build_recording_pipeline(settings)
    await pipeline.start()
    batch = workload(SUBMITS)
    runs: list[float] = []
    for start in range(0, SUBMITS, SUBMITS // 4):  # four timed runs; the writers drain in between
        chunk = batch[start : start + SUBMITS // 4]
        begin = time.perf_counter_ns()
        for event in chunk:
            pipeline.submit(event)
        runs.append((time.perf_counter_ns() - begin) / len(chunk) / 1000)
        await pipeline.settle()
    pipeline_us = statistics.median(runs)
    writer = pipeline.writers[0]
    begin = time.perf_counter_ns()
    for event in batch[: SUBMITS // 4]:
        writer.submit(event)
    writer_us = (time.perf_counter_ns() - begin) / (SUBMITS // 4) / 1000
    await pipeline.settle()
    context = DefaultObservabilityContext("bench-emit", INVALID_SPAN, db_pool=pipeline)
    payload: JSONObject = {"policy": "p", "action": "allow", "reason": "ok"}
    begin = time.perf_counter_ns()
    for _ in range(SUBMITS // 4):
        context.emit_event_nowait("policy.decision", payload)
    emit_us = (time.perf_counter_ns() - begin) / (SUBMITS // 4) / 1000
    await pipeline.aclose()
    for stats in pipeline.counters.values():
        assert stats.dropped == 0 and stats.spooled == 0, stats
    return pipeline_us, writer_us, emit_us


async def main() -> None:
    schema = f"luthien_bench_{secrets.token_hex(3)}"
    stream = f"luthien:bench:{secrets.token_hex(3)}"
    batch = workload(EVENTS)
    results: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory() as directory:
        spool = Path(directory)
        stores: dict[str, EventStore] = {
            "postgres": PostgresStore(POSTGRES, schema=schema),
            "sqlite": SqliteStore(spool / "bench.db"),
            "redis": RedisFeed(REDIS, stream=stream, channel=stream),
        }
        for name, store in stores.items():
            for batch_size in BATCH_SIZES:
                await store.open()  # connect and migrate outside the timing
                fresh = [RecordedEvent(e.transaction_id, e.event_type, e.payload, sequence=e.sequence) for e in batch]
                results.append((name, batch_size, await throughput(store, spool, batch_size, fresh)))
        settings = StorageSettings(
            database_url=POSTGRES,
            postgres_schema=schema,
            redis_url=REDIS,
            redis_stream=stream,
            redis_channel=stream,
            spool_dir=str(spool / "cost"),
            buffer_size=SUBMITS,
        )
        pipeline_us, writer_us, emit_us = await submit_cost(settings)
    connection = await asyncpg.connect(POSTGRES)
    await connection.execute(f"DROP SCHEMA {schema} CASCADE")
    await connection.close()
    client = redis.from_url(REDIS)
    keys = [key async for key in client.scan_iter(f"{stream}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()

    print(f"{EVENTS:,} events (4 per transaction, ~0.6 KB of JSON each), one writer per sink, 2 CPUs")
    print(f"| {'sink':8} | {'batch':>5} | {'events/s':>9} |")
    print(f"|{'-' * 10}|{'-' * 7}|{'-' * 11}|")
    for name, batch_size, rate in results:
        print(f"| {name:8} | {batch_size:>5} | {rate:>9,.0f} |")
    print()
    print(f"RecordingPipeline.submit (Postgres + Redis writers running): {pipeline_us:.2f} µs/event")
    print(f"SinkWriter.submit (one sink):                                {writer_us:.2f} µs/event")
    print(f"emit_event (scrub secrets + RecordedEvent + pipeline submit): {emit_us:.2f} µs/event")


if __name__ == "__main__":
    asyncio.run(main())
