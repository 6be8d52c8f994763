"""Nothing lost: a store goes down in the middle of a stream of transactions and comes back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from luthien_litellm_plugin.storage.postgres import PostgresStore
from luthien_litellm_plugin.storage.spool import Spool
from luthien_litellm_plugin.storage.sqlite import SqliteStore
from luthien_litellm_plugin.storage.writer import SinkWriter
from tests.integration.conftest import POSTGRES_DSN
from tests.integration.events_fixture import transaction_events
from tests.integration.fault_proxy import FaultProxy, submit_through_outage

pytestmark = pytest.mark.integration


async def test_postgres_outage_mid_stream_loses_nothing_and_duplicates_nothing(tmp_path: Path, pg_schema: str) -> None:
    fault = FaultProxy(5432)
    await fault.start()
    dsn = POSTGRES_DSN.replace("127.0.0.1:5432", f"127.0.0.1:{fault.port}")
    writer = SinkWriter(
        PostgresStore(dsn, schema=pg_schema), Spool(tmp_path, "postgres"), batch_size=20, max_backoff_seconds=0.2
    )
    writer.start()
    submitted = await submit_through_outage(writer, fault, 60)
    await asyncio.wait_for(writer.settle(), timeout=30)
    await writer.aclose()
    await fault.cut()
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        ids = [r["event_id"] for r in await connection.fetch(f"SELECT event_id FROM {pg_schema}.events")]
        done = await connection.fetchval(f"SELECT count(*) FROM {pg_schema}.transactions WHERE status = 'success'")
    finally:
        await connection.close()
    assert sorted(ids) == sorted(submitted)
    assert done == 60
    counters = writer.counters
    assert counters.dropped == 0 and counters.spooled > 0 and counters.replayed >= counters.spooled
    assert counters.written + counters.replayed >= len(submitted)


async def test_overflow_and_shutdown_go_to_the_spool_and_a_restart_replays_them(tmp_path: Path) -> None:
    database = tmp_path / "luthien.db"
    first = SinkWriter(SqliteStore(database), Spool(tmp_path / "spool", "sqlite"), buffer_size=2)
    events = [e for i in range(3) for e in transaction_events(f"t{i}")]
    for event in events:  # never started: the buffer fills and the rest spill to the spool
        first.submit(event)
    assert first.counters.spooled == len(events) - 2
    await first.aclose()  # shutdown drain: the two buffered events are not lost either
    assert len(first.spool) == len(events)
    second = SinkWriter(SqliteStore(database), Spool(tmp_path / "spool", "sqlite"))  # the restarted process
    second.start()
    await asyncio.wait_for(second.settle(), timeout=10)
    await second.aclose()
    assert second.counters.replayed == len(events) and second.spool.empty
    async with aiosqlite.connect(database) as db:
        rows = await (await db.execute("SELECT event_id FROM events")).fetchall()
    assert sorted(r[0] for r in rows) == sorted(e.event_id for e in events)
