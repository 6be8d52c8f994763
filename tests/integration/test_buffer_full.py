"""A slow sink: the in-memory buffer fills up, the overflow goes to the spool, and all of it
reaches the sink once it answers again, exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from luthien_litellm_plugin.storage import build_recording_pipeline
from tests.integration import queries
from tests.integration.conftest import fast_settings, through
from tests.integration.events_fixture import many_transactions
from tests.integration.fault_proxy import FaultProxy
from tests.integration.waits import until

pytestmark = pytest.mark.integration


async def test_a_hung_postgres_overflows_the_buffer_into_the_spool(
    tmp_path: Path, postgres_dsn: str, postgres_fault: FaultProxy
) -> None:
    settings = fast_settings(
        tmp_path, database_url=through(postgres_dsn, postgres_fault), buffer_size=50, batch_size=10
    )
    pipeline = build_recording_pipeline(settings)
    await pipeline.start()
    writer = pipeline.writer("postgres")
    postgres_fault.stall()  # the server stops answering: the batch in flight hangs
    submitted = many_transactions(100)
    for index, event in enumerate(submitted):
        pipeline.submit(event)
        if index % 10 == 0:
            await asyncio.sleep(0)
        assert writer.buffered <= 2 * 50 + 2 * 10  # bounded: twice the buffer, the batch in flight, one spill
    await until(lambda: writer.buffered <= 50)  # the spooler writes in a thread
    spooled_while_hung = writer.stats().spooled
    assert spooled_while_hung >= len(submitted) - 50 - 10
    assert writer.stats().written == 0
    postgres_fault.resume()
    await asyncio.wait_for(pipeline.settle(), timeout=30)
    await pipeline.aclose()

    queries.assert_same_events(await queries.postgres_events(postgres_dsn), submitted)
    queries.assert_same_rows(
        await queries.postgres_transactions(postgres_dsn), queries.expected_transactions(submitted)
    )
    stats = pipeline.counters["postgres"]
    assert stats.dropped == 0 and stats.failures == 0  # slow, not failing
    assert stats.replayed == stats.spooled >= spooled_while_hung
    assert stats.written + stats.replayed == len(submitted)
