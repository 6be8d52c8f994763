"""Read-only access to the recording database: SQLite (a short-lived connection per query, on a
thread) or Postgres (an asyncpg pool whose sessions are read-only)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from luthien_litellm_plugin.history.dialect import Dialect
from luthien_litellm_plugin.storage.settings import StorageSettings

Row = dict[str, object]

_MISSING_COLUMN = re.compile(r'no such column: (?:\w+\.)?(\w+)|column "?(?:\w+\.)?(\w+)"? does not exist')

_NOT_MIGRATED = (
    "was written by an older version of the plugin (no column '{column}'): start the proxy with this "
    "version once, it migrates the tables at start"
)


class DatabaseUnavailable(Exception):
    """The recordings cannot be read; the message says where and why (never a password)."""


class RecordingDatabase(Protocol):
    """Where recordings are read from."""

    dialect: Dialect

    @property
    def description(self) -> str:
        """`sqlite <path>` or `postgres <url without password>`, for messages."""

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """The rows of one query, as dicts. Raises `DatabaseUnavailable`."""

    async def aclose(self) -> None: ...


def open_database(settings: StorageSettings) -> RecordingDatabase:
    """The database `settings` point at (nothing is connected before the first query)."""
    if settings.database_url is not None and settings.is_postgres:
        return PostgresDatabase(
            settings.database_url, schema=settings.postgres_schema, connect_timeout=settings.connect_timeout_seconds
        )
    return SqliteDatabase(settings.sqlite_path)


def without_password(url: str) -> str:
    """`url` with any password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class SqliteDatabase:
    """Each query opens the file read-write-if-it-exists (never creates it), sets `query_only`
    and closes it again: no connection outlives a request, and WAL mode lets the proxy's writer
    go on meanwhile."""

    dialect = Dialect("sqlite")

    def __init__(self, path: str | Path, *, busy_timeout_seconds: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout_seconds = busy_timeout_seconds

    @property
    def description(self) -> str:
        return f"sqlite {self.path}"

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return await asyncio.to_thread(self._fetch, sql, params)

    async def aclose(self) -> None:
        return None

    def _fetch(self, sql: str, params: Sequence[object]) -> list[Row]:
        if not self.path.is_file():
            raise DatabaseUnavailable(
                f"no recording database at {self.path} (the proxy creates it when it starts; "
                "pass --database-url or set LUTHIEN_DATABASE_URL to read another one)"
            )
        try:
            connection = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=rw", uri=True, timeout=self.busy_timeout_seconds
            )
        except sqlite3.Error as error:
            raise DatabaseUnavailable(f"cannot open {self.description}: {error}") from error
        try:
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA query_only = 1")
            return [dict(row) for row in connection.execute(sql, tuple(params)).fetchall()]
        except sqlite3.OperationalError as error:
            raise DatabaseUnavailable(_explain(self.description, str(error))) from error
        except sqlite3.DatabaseError as error:
            raise DatabaseUnavailable(f"cannot read {self.description}: {error}") from error
        finally:
            connection.close()


class PostgresDatabase:
    """A small asyncpg pool, created at the first query; sessions are read-only."""

    def __init__(self, dsn: str, *, schema: str = "luthien", connect_timeout: float = 5.0) -> None:
        self.dsn = dsn
        self.dialect = Dialect("postgres", schema)
        self.connect_timeout = connect_timeout
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    @property
    def description(self) -> str:
        return f"postgres {without_password(self.dsn)}"

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        pool = await self._connected()
        try:
            async with pool.acquire(timeout=self.connect_timeout) as connection:
                records = await connection.fetch(sql, *params)
        except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError, asyncpg.InvalidSchemaNameError) as error:
            raise DatabaseUnavailable(_explain(self.description, str(error))) from error
        except (TimeoutError, OSError, asyncpg.PostgresConnectionError) as error:
            raise DatabaseUnavailable(f"cannot reach {self.description}: {error}") from error
        return [dict(record) for record in records]

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _connected(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                try:
                    self._pool = await asyncpg.create_pool(
                        self.dsn,
                        min_size=0,
                        max_size=4,
                        timeout=self.connect_timeout,
                        command_timeout=30,
                        server_settings={
                            "application_name": "luthien-history",
                            "default_transaction_read_only": "on",
                        },
                    )
                    async with self._pool.acquire(timeout=self.connect_timeout) as connection:
                        await connection.execute("SELECT 1")  # a pool with min_size=0 connects lazily
                except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                    pool, self._pool = self._pool, None
                    if pool is not None:
                        pool.terminate()
                    raise DatabaseUnavailable(f"cannot reach {self.description}: {error}") from error
            return self._pool


def _explain(description: str, message: str) -> str:
    missing_column = _MISSING_COLUMN.search(message)
    if missing_column:
        return f"{description} " + _NOT_MIGRATED.format(column=missing_column.group(1) or missing_column.group(2))
    if "no such table" in message or "does not exist" in message:
        return f"{description} has no recordings yet (the proxy creates the tables when it starts): {message}"
    return f"cannot read {description}: {message}"
