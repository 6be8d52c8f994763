"""Postgres store (asyncpg), tables in schema `luthien`."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from luthien_litellm_plugin.observability.events import RecordedEvent
from luthien_litellm_plugin.storage import rows
from luthien_litellm_plugin.storage.migrations import migration_files

_MIGRATION_LOCK = 0x6C7574686965  # pg_advisory_lock key: several workers migrate one at a time


class PostgresStore:
    """Writes each batch in one database transaction: events with `executemany`, then upserts."""

    name = "postgres"

    def __init__(self, dsn: str, *, schema: str = "luthien") -> None:
        self.dsn = dsn
        self.schema = schema
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=2, command_timeout=30)
        try:
            async with pool.acquire() as connection:
                await self._migrate(connection)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def write(self, batch: Sequence[RecordedEvent]) -> None:
        pool = self._pool
        if pool is None:
            raise RuntimeError("PostgresStore.write before open")
        grouped: dict[str, list[tuple[object, ...]]] = {}
        for event in batch:
            upsert = rows.UPSERTS.get(event.event_type)
            if upsert is not None:
                grouped.setdefault(event.event_type, []).append(rows.upsert_row(event, upsert, "postgres"))
        async with pool.acquire() as connection, connection.transaction():
            await connection.executemany(
                rows.events_sql("postgres", f"{self.schema}.events"), [rows.event_row(e) for e in batch]
            )
            for event_type, values in grouped.items():
                sql = rows.upsert_sql(rows.UPSERTS[event_type], "postgres", f"{self.schema}.transactions")
                await connection.executemany(sql, values)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _migrate(self, connection: asyncpg.Connection) -> None:
        await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {self.schema}.schema_migrations "
                "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = {
                r["version"] for r in await connection.fetch(f"SELECT version FROM {self.schema}.schema_migrations")
            }
            for version, sql in migration_files("postgres"):
                if version not in applied:
                    async with connection.transaction():
                        await connection.execute(
                            sql.replace("luthien.", f"{self.schema}.").replace(
                                "SCHEMA IF NOT EXISTS luthien", f"SCHEMA IF NOT EXISTS {self.schema}"
                            )
                        )
                        await connection.execute(
                            f"INSERT INTO {self.schema}.schema_migrations (version) VALUES ($1)", version
                        )
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
