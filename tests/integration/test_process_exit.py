"""A gone process's `started` transactions are closed as `error` exactly once, on Postgres and SQLite,
however many workers learn of its death at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from luthien_litellm_plugin import events
from luthien_litellm_plugin.storage.postgres import PostgresStore
from luthien_litellm_plugin.storage.spool import process_exited
from luthien_litellm_plugin.storage.sqlite import SqliteStore
from luthien_litellm_plugin.storage.store import EventStore
from tests.integration import queries
from tests.integration.events_fixture import transaction_events

pytestmark = pytest.mark.integration

DEAD, ALIVE = "1111-dead", "2222-alive"
Read = Callable[[], object]


@pytest.fixture(params=["postgres", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Callable[[], EventStore], str, str]:
    """(a store factory: one store per worker, the dialect, where it writes)."""
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("postgres_dsn")
        return (lambda: PostgresStore(dsn)), "postgres", dsn
    path = tmp_path / "luthien.db"
    return (lambda: SqliteStore(path)), "sqlite", str(path)


async def read(dialect: str, where: str) -> tuple[list[queries.Row], dict[str, queries.Row]]:
    if dialect == "postgres":
        return await queries.postgres_events(where), await queries.postgres_transactions(where)
    return queries.sqlite_events(Path(where)), queries.sqlite_transactions(Path(where))


async def test_the_gone_process_s_open_transactions_are_closed_once_by_concurrent_workers(
    backend: tuple[Callable[[], EventStore], str, str],
) -> None:
    make_store, dialect, where = backend
    workers = [make_store() for _ in range(4)]
    for store in workers:
        await store.open()
    open_dead = transaction_events("open-dead", process=DEAD)[:2]  # request recorded, never completed
    done_dead = transaction_events("done-dead", "success", process=DEAD)
    open_alive = transaction_events("open-alive", process=ALIVE)[:2]
    await workers[0].write([*open_dead, *done_dead, *open_alive], batch_id="before")
    note = process_exited(DEAD)
    # every worker learns of it at once; one also retries its batch (outcome unknown)
    await asyncio.gather(*(store.write([note], batch_id=f"w{i}") for i, store in enumerate(workers)))
    await workers[1].write([note], batch_id="w1")
    for store in workers:
        await store.close()
    recorded, transactions = await read(dialect, where)
    closed = transactions["open-dead"]
    assert (closed["status"], closed["error"]) == ("error", events.PROCESS_EXITED_ERROR)
    assert abs(float(str(closed["finished_at"])) - note.created_at) < 1e-3
    assert transactions["done-dead"]["status"] == "success"  # already finished: untouched
    assert transactions["open-alive"]["status"] == "started"  # another process's: untouched
    completions = [e for e in recorded if e["event_type"] == events.TRANSACTION_COMPLETED]
    assert sorted(str(e["transaction_id"]) for e in completions) == ["done-dead", "open-dead"]
    [written] = [e for e in completions if e["transaction_id"] == "open-dead"]
    assert written["sequence"] == len(open_dead)  # after the transaction's own events
    assert written["payload"] == {
        "status": "error",
        "error": events.PROCESS_EXITED_ERROR,
        "process": DEAD,
        "finished_at": written["payload"]["finished_at"],  # type: ignore[index]
    }
    assert [e["event_id"] for e in recorded if e["event_type"] == events.PROCESS_EXITED] == [note.event_id]
