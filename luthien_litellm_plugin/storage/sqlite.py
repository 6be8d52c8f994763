"""SQLite store (aiosqlite): the embedded default, `./luthien.db`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from luthien_litellm_plugin.observability.events import RecordedEvent
from luthien_litellm_plugin.storage import rows
from luthien_litellm_plugin.storage.migrations import migration_files


class SqliteStore:
    """Writes events and transaction rows into one SQLite file, a batch per transaction."""

    name = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        if self._db is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA busy_timeout=5000")
        await self._migrate(db)
        self._db = db

    async def write(self, batch: Sequence[RecordedEvent]) -> None:
        db = self._db
        if db is None:
            raise RuntimeError("SqliteStore.write before open")
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.executemany(rows.events_sql("sqlite", "events"), [rows.event_row(e) for e in batch])
            for event in batch:
                upsert = rows.UPSERTS.get(event.event_type)
                if upsert is not None:
                    await db.execute(
                        rows.upsert_sql(upsert, "sqlite", "transactions"), rows.upsert_row(event, upsert, "sqlite")
                    )
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @staticmethod
    async def _migrate(db: aiosqlite.Connection) -> None:
        # BEGIN IMMEDIATE takes the write lock: several workers starting at once apply each
        # migration exactly once.
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at REAL)")
            async with db.execute("SELECT version FROM schema_migrations") as cursor:
                applied = {row[0] for row in await cursor.fetchall()}
            for version, sql in migration_files("sqlite"):
                if version not in applied:
                    for statement in _statements(sql):
                        await db.execute(statement)
                    await db.execute("INSERT INTO schema_migrations VALUES (?, strftime('%s','now'))", (version,))
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]
