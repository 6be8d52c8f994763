"""The Postgres store (asyncpg): tables in their own schema, `luthien` by default."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import asyncpg
from asyncpg.exceptions._base import DataError as ClientDataError

from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.storage import rows
from luthien_litellm_plugin.storage.migrations import migration_files
from luthien_litellm_plugin.storage.store import RejectedBatch

logger = logging.getLogger("luthien_litellm_plugin.storage")

MIGRATION_LOCK = 0x6C7574686965
"""`pg_advisory_lock` key held while migrating: workers starting at once migrate one at a time."""
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DEFAULT_SCHEMA = re.compile(r"\bluthien\.|\bSCHEMA IF NOT EXISTS luthien\b")


class PostgresStore:
    """Writes each batch in one database transaction: the `events` rows with one statement
    (`unnest` of one array per column), then the `transactions` upserts, one row per transaction
    of the batch, with one `executemany` per column set. One connection, reopened after a
    failure."""

    name = "postgres"

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "luthien",
        connect_timeout: float = 5.0,
        command_timeout: float = 30.0,
    ) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"not a plain schema name: {schema!r}")
        self.dsn = dsn
        self.schema = schema
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._connection: asyncpg.Connection | None = None
        self._migrated = False
        self._events_sql = rows.events_unnest_sql(f"{schema}.events")
        self._transactions = f"{schema}.transactions"
        self._close_started_sql = rows.postgres_close_started_sql(self._transactions, f"{schema}.events")

    async def open(self) -> None:
        if self._connection is not None and not self._connection.is_closed():
            return
        connection = await asyncpg.connect(self.dsn, timeout=self.connect_timeout, command_timeout=self.command_timeout)
        try:
            if not self._migrated:
                await self._migrate(connection)
                self._migrated = True
        except BaseException:
            connection.terminate()
            raise
        self._connection = connection

    async def write(self, events: Sequence[RecordedEvent], *, batch_id: str) -> None:
        connection = self._connection
        if connection is None:
            raise ConnectionError("PostgresStore.write before open")
        if not events:
            return
        event_rows, upserts = rows.batch_rows(events, "postgres")
        event_columns = [list(column) for column in zip(*event_rows, strict=True)]
        try:
            async with connection.transaction():
                await connection.execute(self._events_sql, *event_columns)
                for upsert, values in upserts.items():
                    await connection.executemany(rows.upsert_sql(upsert, "postgres", self._transactions), values)
                for process, error, at in rows.exited_processes(events):
                    status = await connection.execute(self._close_started_sql, process, error, at)
                    closed = int(status.rsplit(" ", 1)[-1])  # "INSERT 0 <n>": one completion event per closed row
                    if closed:
                        logger.warning("luthien postgres: closed %d transactions left open by %s", closed, process)
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, ClientDataError) as error:
            # invalid content (server side: SQLSTATE classes 22 and 23; client side: a value
            # asyncpg cannot encode): retrying the same batch can never succeed
            raise RejectedBatch(f"{type(error).__name__}: {error}") from error

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None or connection.is_closed():
            return
        try:
            await connection.close(timeout=self.connect_timeout)
        except Exception as error:  # a broken connection: just drop it
            logger.debug("luthien postgres: close: %r", error)
            connection.terminate()

    async def _migrate(self, connection: asyncpg.Connection) -> None:
        schema = self.schema
        await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations "
                "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = {r["version"] for r in await connection.fetch(f"SELECT version FROM {schema}.schema_migrations")}
            for version, sql in migration_files("postgres"):
                if version in applied:
                    continue
                async with connection.transaction():
                    await connection.execute(_in_schema(sql, schema))
                    await connection.execute(f"INSERT INTO {schema}.schema_migrations (version) VALUES ($1)", version)
                logger.info("luthien postgres: applied migration %s in schema %s", version, schema)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


def _in_schema(sql: str, schema: str) -> str:
    """A migration written for schema `luthien`, for another schema (tests, benchmarks)."""
    if schema == "luthien":
        return sql
    return _DEFAULT_SCHEMA.sub(lambda m: m.group(0).replace("luthien", schema), sql)
