"""Integration tests run against the machine's real PostgreSQL (127.0.0.1:5432) and Redis
(127.0.0.1:6379). A missing service skips them locally and fails them under CI=true: a missing
service must never pass silently in CI.

Postgres: one database `luthien_test_<random>` per test session (dropped at the end); each test
starts with no `luthien` schema in it. Redis: a stream and channel names of their own per test.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as redis

from luthien_litellm_plugin.storage.settings import StorageSettings
from tests.integration.fault_proxy import FaultProxy

POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
POSTGRES_ADMIN_DSN = os.environ.get(
    "LUTHIEN_TEST_POSTGRES", f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/test"
)
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def require_service(name: str, host: str, port: int) -> None:
    """Skip (locally) or fail (CI=true) unless `host:port` accepts connections."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as error:
        message = f"{name} is not reachable on {host}:{port} ({error}); start it with scripts/services"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def fresh_database() -> Iterator[str]:
    """The DSN of a new, empty database `luthien_test_<random>`, dropped when the block exits."""
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    name = f"luthien_test_{secrets.token_hex(4)}"
    _admin(f"CREATE DATABASE {name}")
    try:
        yield POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The DSN of a database created for this test session."""
    with fresh_database() as dsn:
        yield dsn


def _admin(sql: str) -> None:
    """Run one statement on the admin database, from any context (a loop may be running: the
    fixture can be first requested by an async fixture), on a thread with its own loop."""

    async def run() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(asyncio.run, run()).result()


@pytest.fixture
async def postgres_dsn(postgres_database: str) -> AsyncIterator[str]:
    """The session database, with no `luthien` schema (tables) left from another test."""
    yield postgres_database
    connection = await asyncpg.connect(postgres_database)
    try:
        await connection.execute("DROP SCHEMA IF EXISTS luthien CASCADE")
    finally:
        await connection.close()


@dataclass(frozen=True)
class RedisNames:
    stream: str
    channel: str


@pytest.fixture
async def redis_names() -> AsyncIterator[RedisNames]:
    """A stream and a channel for this test only, deleted afterwards (batch markers included)."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    prefix = f"luthien:test:{secrets.token_hex(4)}"
    yield RedisNames(f"{prefix}:events", f"{prefix}:channel")
    client = redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_client() -> AsyncIterator[redis.Redis]:
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    client = redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def postgres_fault() -> AsyncIterator[FaultProxy]:
    """A TCP proxy to Postgres the test can cut and heal."""
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    async with FaultProxy(POSTGRES_PORT) as proxy:
        yield proxy


@pytest.fixture
async def redis_fault() -> AsyncIterator[FaultProxy]:
    """A TCP proxy to Redis the test can cut and heal."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    async with FaultProxy(REDIS_PORT) as proxy:
        yield proxy


def through(dsn: str, proxy: FaultProxy) -> str:
    """`dsn` with its 127.0.0.1 port replaced by the proxy's."""
    return dsn.replace(f"{POSTGRES_HOST}:{POSTGRES_PORT}", f"127.0.0.1:{proxy.port}").replace(
        f"{REDIS_HOST}:{REDIS_PORT}", f"127.0.0.1:{proxy.port}"
    )


def fast_settings(tmp_path: Path, **values: object) -> StorageSettings:
    """Settings with small batches and quick retries, spooling under `tmp_path`."""
    defaults: dict[str, object] = {
        "spool_dir": str(tmp_path / "spool"),
        "database_url": f"sqlite:///{tmp_path / 'luthien.db'}",
        "batch_size": 20,
        "flush_interval_seconds": 0.01,
        "max_backoff_seconds": 0.2,
        "connect_timeout_seconds": 2.0,
        "write_timeout_seconds": 10.0,
    }
    return StorageSettings.model_validate({**defaults, **values})
