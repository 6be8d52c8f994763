"""Live updates for the viewer: from the real Redis feed (waiting for the database row), or from
the database alone; a Redis that is down falls back to the database."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from luthien_litellm_plugin.history.database import SqliteDatabase
from luthien_litellm_plugin.history.reader import TransactionHistory
from luthien_litellm_plugin.storage.redis_feed import RedisFeed
from luthien_litellm_plugin.storage.sqlite import SqliteStore
from luthien_litellm_plugin.viewer.live import ChangeFeed
from tests.integration.conftest import REDIS_URL, RedisNames
from tests.integration.history.recorded import Recorded

pytestmark = pytest.mark.integration


async def test_the_redis_feed_names_new_transactions_once_their_row_is_written(
    tmp_path: Path, redis_names: RedisNames
) -> None:
    store = SqliteStore(tmp_path / "luthien.db")
    feed = RedisFeed(REDIS_URL, stream=redis_names.stream, channel=redis_names.channel)
    await store.open()
    await feed.open()
    changes = ChangeFeed(TransactionHistory(SqliteDatabase(tmp_path / "luthien.db")), REDIS_URL, redis_names.stream)
    try:
        start = await changes.changes(None)
        assert (start.mode, start.changed) == ("redis", False)

        written = Recorded()
        await store.write(written.events(), batch_id=os.urandom(4).hex())
        await feed.write(written.events(), batch_id=os.urandom(4).hex())
        seen = await changes.changes(start.cursor)
        assert seen.changed and seen.transactions == [{"transaction_id": written.transaction_id, "status": "success"}]
        assert seen.pending == []

        lagging = Recorded()  # on the feed, not (yet) in the database
        await feed.write(lagging.events(), batch_id=os.urandom(4).hex())
        later = await changes.changes(seen.cursor)
        assert later.changed and later.transactions == [] and later.pending == [lagging.transaction_id]

        quiet = await changes.changes(later.cursor)
        assert (quiet.changed, quiet.cursor) == (False, later.cursor)
    finally:
        await changes.aclose()
        await feed.close()
        await store.close()


async def test_without_redis_a_fingerprint_of_the_rows_says_when_something_changed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "luthien.db")
    await store.open()
    changes = ChangeFeed(TransactionHistory(SqliteDatabase(tmp_path / "luthien.db")), None)
    try:
        transaction = Recorded(started_at=time.time())  # inside the fingerprint's last day
        start = await changes.changes(None)
        assert (await changes.changes(start.cursor)).changed is False
        request_only = transaction.events()[:1]
        await store.write(request_only, batch_id="b1")
        started = await changes.changes(start.cursor)
        assert started.mode == "database" and started.changed
        await store.write(transaction.events()[1:], batch_id="b2")
        assert (await changes.changes(started.cursor)).changed  # it finished
    finally:
        await store.close()


async def test_an_unreachable_redis_falls_back_to_the_database(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "luthien.db")
    await store.open()
    await store.close()
    changes = ChangeFeed(TransactionHistory(SqliteDatabase(tmp_path / "luthien.db")), "redis://127.0.0.1:1/0")
    try:
        answer = await changes.changes("r:0-0")
        assert answer.mode == "database" and answer.cursor.startswith("d:")
    finally:
        await changes.aclose()
