"""The Postgres and SQLite migrations describe the same tables, columns and indexes."""

from __future__ import annotations

import re

from luthien_litellm_plugin.storage.migrations import Dialect, migration_files, sql_statements

_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (?:luthien\.)?(\w+)\s*\((.*)\)\s*$", re.S | re.I)
_ADD_COLUMN = re.compile(r"ALTER TABLE (?:luthien\.)?(\w+) ADD COLUMN (?:IF NOT EXISTS )?(\w+)", re.I)
_INDEX = re.compile(r"CREATE (?:UNIQUE )?INDEX IF NOT EXISTS (\w+) ON (?:luthien\.)?(\w+) \(([^)]*)\)", re.I)


def schema(dialect: Dialect) -> tuple[dict[str, list[str]], set[tuple[str, str, str]]]:
    tables: dict[str, list[str]] = {}
    indexes: set[tuple[str, str, str]] = set()
    for _, sql in migration_files(dialect):
        for statement in sql_statements(sql):
            if table := _TABLE.match(statement):
                body = re.sub(r"\([^()]*\)", "", table.group(2))  # drop CHECK (...) and the like
                columns = [line.split()[0] for line in body.split(",") if line.strip()]
                tables[table.group(1)] = [c for c in columns if c.upper() not in {"CHECK", "PRIMARY", "UNIQUE"}]
            elif added := _ADD_COLUMN.match(statement):
                tables[added.group(1)].append(added.group(2))
            elif index := _INDEX.match(statement):
                indexes.add((index.group(1), index.group(2), index.group(3).replace(" ", "")))
    return tables, indexes


def test_both_dialects_have_the_same_versions() -> None:
    assert [v for v, _ in migration_files("postgres")] == [v for v, _ in migration_files("sqlite")]


def test_both_dialects_define_the_same_tables_columns_and_indexes() -> None:
    postgres, sqlite = schema("postgres"), schema("sqlite")
    assert postgres == sqlite
    tables, indexes = postgres
    assert set(tables) == {"transactions", "events"}
    assert tables["transactions"][:6] == ["transaction_id", "call_id", "model", "policy", "status", "is_streaming"]
    assert ("events_by_transaction", "events", "transaction_id,sequence") in indexes
    assert tables["transactions"][-2:] == ["process", "api"]
    assert ("transactions_started_by_process", "transactions", "process") in indexes
