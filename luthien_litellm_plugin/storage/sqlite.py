"""The SQLite store (aiosqlite): the embedded default, `./luthien.db`."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.storage import rows
from luthien_litellm_plugin.storage.migrations import migration_files, sql_statements
from luthien_litellm_plugin.storage.store import RejectedBatch

logger = logging.getLogger("luthien_litellm_plugin.storage")

# Content SQLite refuses (a CHECK constraint, an integer too large, …): not worth retrying.
_REJECTED = (sqlite3.IntegrityError, sqlite3.DataError, OverflowError, ValueError, TypeError)


class SqliteStore:
    """Writes each batch in one `BEGIN IMMEDIATE` transaction. WAL mode, so readers (an operator's
    `sqlite3 luthien.db`) never block the writer; several workers may share the file."""

    name = "sqlite"

    def __init__(self, path: str | Path, *, busy_timeout_seconds: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = int(busy_timeout_seconds * 1000)
        self._db: aiosqlite.Connection | None = None
        self._events_sql = rows.events_sql("sqlite", "events")
        self._close_started_sql = rows.sqlite_close_started_sql("transactions", "events")

    async def open(self) -> None:
        if self._db is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await db.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
            await self._use_wal(db)
            await db.execute("PRAGMA synchronous=NORMAL")
            await self._migrate(db)
        except BaseException:
            await db.close()
            raise
        self._db = db

    async def write(self, events: Sequence[RecordedEvent], *, batch_id: str) -> None:
        db = self._db
        if db is None:
            raise ConnectionError("SqliteStore.write before open")
        event_rows, upserts = rows.batch_rows(events, "sqlite")
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.executemany(self._events_sql, event_rows)
            for upsert, values in upserts.items():
                await db.executemany(rows.upsert_sql(upsert, "sqlite", "transactions"), values)
            for exited in rows.exited_processes(events):
                await self._close_started(db, *exited)
        except BaseException as error:
            await db.execute("ROLLBACK")
            if isinstance(error, _REJECTED):
                raise RejectedBatch(f"{type(error).__name__}: {error}") from error
            raise
        await db.execute("COMMIT")

    async def _close_started(self, db: aiosqlite.Connection, process: str, error: str, at: float) -> None:
        """Close as `error` the transactions `process` left `started` (it is gone)."""
        close, completion = self._close_started_sql
        async with db.execute(close, (process, error, at)) as cursor:
            closed = [row[0] for row in await cursor.fetchall()]
        await db.executemany(completion, [(transaction_id, error, process, at) for transaction_id in closed])
        if closed:
            logger.warning("luthien sqlite: closed %d transactions left open by process %s", len(closed), process)

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            try:
                await db.close()
            except Exception as error:
                logger.debug("luthien sqlite: close: %r", error)

    async def _use_wal(self, db: aiosqlite.Connection) -> None:
        """Switch the file to WAL (persistent). Workers opening a new file at once may find it
        locked without SQLite waiting for it (the busy handler does not cover this switch): retry,
        backing off, for up to the busy timeout."""
        deadline = asyncio.get_running_loop().time() + self.busy_timeout_ms / 1000
        delay = 0.005
        while True:
            try:
                await db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    @staticmethod
    async def _migrate(db: aiosqlite.Connection) -> None:
        # BEGIN IMMEDIATE takes the write lock: of several workers starting at once, one applies
        # each migration and the others find it recorded.
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            async with db.execute("SELECT version FROM schema_migrations") as cursor:
                applied = {row[0] for row in await cursor.fetchall()}
            for version, sql in migration_files("sqlite"):
                if version in applied:
                    continue
                for statement in sql_statements(sql):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations VALUES (?, (julianday('now') - 2440587.5) * 86400.0)", (version,)
                )
                logger.info("luthien sqlite: applied migration %s", version)
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")
