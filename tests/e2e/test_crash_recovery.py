"""A proxy killed with SIGKILL mid-stream: the next start closes what it left `started` as `error`,
exactly once, on SQLite and Postgres, with one worker or two."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from luthien_litellm_plugin.events import PROCESS_EXITED_ERROR
from tests.e2e.conftest import kill_proxy, model_list, start_proxy, stop_proxy, write_proxy_config
from tests.e2e.messages_proxy import messages_fake
from tests.fakes.server import FakeUpstream
from tests.integration.conftest import fresh_database

pytestmark = pytest.mark.e2e
__all__ = ["messages_fake"]  # the session fixture this module uses

SLOW_STREAM = "scenario:text chunks:40 chunk_delay_ms:250"
"""About 10 s of text, a chunk every 250 ms (well within the proxies' 2 s idle timeout)."""
Row = dict[str, object]


@dataclass
class Deployment:
    """One proxy installation: its config, recording directory and database, across restarts."""

    config: Path
    directory: Path
    database_url: str | None

    @property
    def events_file(self) -> Path:
        return self.directory / "events-{pid}.jsonl"

    @contextmanager
    def running(self, workers: int = 1) -> Iterator[tuple[subprocess.Popen[bytes], str, dict[str, str]]]:
        env = {"LUTHIEN_DATABASE_URL": self.database_url} if self.database_url else {}
        log = self.directory / f"proxy-{time.monotonic_ns()}.log"
        extra = ("--num_workers", str(workers)) if workers > 1 else ()
        process, base_url, master_key = start_proxy(self.config, self.events_file, log, extra, env)
        try:
            yield process, base_url, {"Authorization": f"Bearer {master_key}"}
        finally:
            if process.poll() is None:
                stop_proxy(process)

    def rows(self, transaction_ids: list[str]) -> dict[str, Row]:
        if self.database_url is None:
            with sqlite3.connect(self.directory / "luthien.db") as db:
                db.row_factory = sqlite3.Row
                marks = ",".join("?" * len(transaction_ids))
                found = db.execute(f"SELECT * FROM transactions WHERE transaction_id IN ({marks})", transaction_ids)
                return {row["transaction_id"]: dict(row) for row in found}
        return asyncio.run(_postgres_rows(self.database_url, transaction_ids))

    def completions(self, transaction_ids: list[str]) -> list[str]:
        """The transaction id of every `transaction.completed` event recorded for these transactions."""
        if self.database_url is None:
            with sqlite3.connect(self.directory / "luthien.db") as db:
                marks = ",".join("?" * len(transaction_ids))
                sql = "SELECT transaction_id FROM events WHERE event_type = 'transaction.completed'"
                found = db.execute(f"{sql} AND transaction_id IN ({marks})", transaction_ids)
                return sorted(row[0] for row in found)
        return asyncio.run(_postgres_completions(self.database_url, transaction_ids))

    def wait_for(self, transaction_ids: list[str], statuses: set[str], timeout: float = 30.0) -> dict[str, Row]:
        """The rows, once each has one of `statuses`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                rows = self.rows(transaction_ids)
            except (sqlite3.OperationalError, asyncpg.UndefinedTableError):  # not migrated yet
                rows = {}
            if len(rows) == len(transaction_ids) and all(row["status"] in statuses for row in rows.values()):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"rows not {statuses} in {timeout}s: {rows}")
            time.sleep(0.1)  # the proxy writes on its own schedule; bounded by the deadline


async def _postgres_rows(dsn: str, transaction_ids: list[str]) -> dict[str, Row]:
    connection = await asyncpg.connect(dsn)
    try:
        found = await connection.fetch(
            "SELECT * FROM luthien.transactions WHERE transaction_id = ANY($1)", transaction_ids
        )
    finally:
        await connection.close()
    return {row["transaction_id"]: dict(row) for row in found}


async def _postgres_completions(dsn: str, transaction_ids: list[str]) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        found = await connection.fetch(
            "SELECT transaction_id FROM luthien.events"
            " WHERE event_type = 'transaction.completed' AND transaction_id = ANY($1)",
            transaction_ids,
        )
    finally:
        await connection.close()
    return sorted(row["transaction_id"] for row in found)


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(request: pytest.FixtureRequest, messages_fake: FakeUpstream, tmp_path: Path) -> Iterator[Deployment]:
    config = tmp_path / "litellm_config.yaml"
    write_proxy_config(config, model_list(messages_fake))
    if request.param == "sqlite":
        yield Deployment(config, tmp_path, None)
        return
    with fresh_database() as dsn:
        yield Deployment(config, tmp_path, dsn)


class Streams:
    """Slow streams held open in threads; `transaction_ids` fill in as their headers arrive."""

    def __init__(self, base_url: str, headers: dict[str, str], count: int) -> None:
        self.transaction_ids: list[str] = []
        self.finished: dict[str, bool] = {}
        self._arrived = threading.Condition()
        self._threads = [
            threading.Thread(target=self._run, args=(base_url, headers, i), daemon=True) for i in range(count)
        ]
        for thread in self._threads:
            thread.start()
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.transaction_ids) == count, timeout=60):
                raise AssertionError(f"only {len(self.transaction_ids)} of {count} streams started")

    def _run(self, base_url: str, headers: dict[str, str], index: int) -> None:
        path, body = (
            ("/v1/chat/completions", {"model": "openai-passthrough", "stream": True})
            if index % 2 == 0
            else ("/v1/messages", {"model": "anthropic-passthrough", "stream": True, "max_tokens": 64})
        )
        body["messages"] = [{"role": "user", "content": f"{SLOW_STREAM} echo:s{index}"}]
        transaction_id, complete = "", False
        try:
            with (
                httpx.Client(timeout=60) as client,
                client.stream("POST", f"{base_url}{path}", headers=headers, json=body) as response,
            ):
                transaction_id = response.headers["x-luthien-transaction-id"]
                with self._arrived:
                    self.transaction_ids.append(transaction_id)
                    self._arrived.notify_all()
                text = "".join(response.iter_text())
                complete = f"[s{index}]" in text and ("[DONE]" in text or "message_stop" in text)
        except httpx.HTTPError:  # the proxy was killed under this stream
            pass
        self.finished[transaction_id] = complete

    def join(self) -> None:
        for thread in self._threads:
            thread.join(60)


def worker_pids(process: subprocess.Popen[bytes]) -> list[int]:
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def owner_pid(row: Row) -> int:
    return int(str(row["process"]).split("-")[0])


def test_a_killed_proxy_s_open_transactions_are_closed_by_the_next_start(deployment: Deployment) -> None:
    with deployment.running() as (process, base_url, headers):
        streams = Streams(base_url, headers, 4)
        rows = deployment.wait_for(streams.transaction_ids, {"started"})
        assert {owner_pid(row) for row in rows.values()} == {process.pid}  # the rows name the process
        process.send_signal(signal.SIGKILL)
        process.wait()
        streams.join()
    killed = streams.transaction_ids
    assert deployment.rows(killed) and all(row["status"] == "started" for row in deployment.rows(killed).values())
    with deployment.running() as (_, base_url, headers):
        rows = deployment.wait_for(killed, {"error", "success", "cancelled", "timeout"})
        assert {(row["status"], row["error"]) for row in rows.values()} == {("error", PROCESS_EXITED_ERROR)}
        assert deployment.completions(killed) == sorted(killed)  # one completion each
        after = httpx.post(
            f"{base_url}/v1/chat/completions",
            headers=headers,
            json={"model": "openai-passthrough", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert after.status_code == 200
        new = after.headers["x-luthien-transaction-id"]
        assert deployment.wait_for([new], {"success", "error"})[new]["status"] == "success"
    assert deployment.completions(killed) == sorted(killed)  # a clean stop closes nothing twice


def test_a_killed_worker_s_transactions_are_closed_and_its_neighbour_s_finish(deployment: Deployment) -> None:
    with deployment.running(workers=2) as (process, base_url, headers):
        streams = Streams(base_url, headers, 8)
        rows = deployment.wait_for(streams.transaction_ids, {"started"})
        owners = {owner_pid(row) for row in rows.values()}
        assert owners <= set(worker_pids(process))
        victim = owner_pid(next(iter(rows.values())))
        os.kill(victim, signal.SIGKILL)  # uvicorn starts a new worker in its place
        streams.join()
        on_victim = [t for t, row in rows.items() if owner_pid(row) == victim]
        survivors = [t for t in rows if t not in on_victim]
        closed = deployment.wait_for(on_victim, {"error"})
        assert {row["error"] for row in closed.values()} == {PROCESS_EXITED_ERROR}
        assert all(streams.finished[t] for t in survivors)  # the other worker's streams were served whole
        assert {row["status"] for row in deployment.wait_for(survivors, {"success"}).values()} <= {"success"}
        assert deployment.completions(streams.transaction_ids) == sorted(streams.transaction_ids)
        # now the whole proxy, then two workers starting together: still exactly once
        more = Streams(base_url, headers, 6)
        deployment.wait_for(more.transaction_ids, {"started"})
        kill_proxy(process)  # every process of it at once
        more.join()
    with deployment.running(workers=2):
        rows = deployment.wait_for(more.transaction_ids, {"error", "success"})
        assert {(row["status"], row["error"]) for row in rows.values()} == {("error", PROCESS_EXITED_ERROR)}
        everything = streams.transaction_ids + more.transaction_ids
        assert deployment.completions(everything) == sorted(everything)
