"""Plain SQL migrations shipped with the package: one folder per dialect, applied in file-name order.

Each store applies the ones not yet recorded in its `schema_migrations` table, at start, under a
lock that makes several workers starting at once safe (Postgres: `pg_advisory_lock`; SQLite:
`BEGIN IMMEDIATE`). Files are idempotent on their own too (`IF NOT EXISTS`).
"""

from __future__ import annotations

from importlib import resources
from typing import Literal

Dialect = Literal["postgres", "sqlite"]


def migration_files(dialect: Dialect) -> list[tuple[str, str]]:
    """(version, sql) for every migration of `dialect`, in order. The version is the file name
    without `.sql` (e.g. `001_init`)."""
    folder = resources.files(__package__).joinpath(dialect)
    files = sorted((entry.name, entry) for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), entry.read_text(encoding="utf-8")) for name, entry in files]


def sql_statements(sql: str) -> list[str]:
    """A migration file split into statements (`--` comment lines dropped; no `;` inside literals)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]
