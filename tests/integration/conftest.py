"""Integration tests use the machine's real PostgreSQL and Redis. Missing service: skip locally,
fail under CI=true (a missing service must never pass silently in CI)."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator

import asyncpg
import pytest

POSTGRES_DSN = os.environ.get("LUTHIEN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def require_service(name: str, host: str, port: int) -> None:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as error:
        message = f"{name} is not reachable on {host}:{port} ({error}); run scripts/services"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A fresh schema name in the test database, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"luthien_test_{secrets.token_hex(4)}"
    yield schema
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await connection.close()
