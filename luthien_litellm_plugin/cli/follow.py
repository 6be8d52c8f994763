"""`luthien tail`: the last transactions, then each new one as it finishes, one line each.

With Redis the stream `luthien:events` says when a transaction completes (its row is then read
from the database, waiting briefly for the database writer); without Redis the database is
polled for transactions that finished since the last look.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as redis

from luthien_litellm_plugin.cli.terminal import Terminal, clip, ms
from luthien_litellm_plugin.events import TRANSACTION_COMPLETED
from luthien_litellm_plugin.history.feed import last_position, read_after
from luthien_litellm_plugin.history.reader import TransactionHistory
from luthien_litellm_plugin.history.records import TransactionFilter, TransactionRow
from luthien_litellm_plugin.history.timespec import iso

POLL_SECONDS = 1.0
ROW_WAIT_SECONDS = 5.0
LATE_ROWS_SECONDS = 60.0
"""Database polling looks this far back again: rows written late (a batch, a replayed spool)."""
BLOCK_MILLISECONDS = 5000


@dataclass(frozen=True)
class Follow:
    history: TransactionHistory
    where: TransactionFilter
    redis_url: str | None
    stream: str = "luthien:events"

    async def rows(self) -> AsyncIterator[TransactionRow]:
        """Each transaction matching `where` as it finishes, forever."""
        if self.redis_url:
            async for row in self._from_redis(self.redis_url):
                yield row
        else:
            async for row in self._from_database():
                yield row

    async def _from_database(self) -> AsyncIterator[TransactionRow]:
        seen: dict[str, float] = {}
        since = time.time()
        while True:
            rows = await self.history.finished_since(since - LATE_ROWS_SECONDS, self.where)
            for row in rows:
                if row.transaction_id not in seen:
                    seen[row.transaction_id] = row.finished_at or since
                    yield row
            since = max([since, *(row.finished_at or 0 for row in rows)])
            for transaction_id, finished in list(seen.items()):
                if finished < since - 2 * LATE_ROWS_SECONDS:
                    del seen[transaction_id]
            await asyncio.sleep(POLL_SECONDS)  # polling interval of the database mode

    async def _from_redis(self, url: str) -> AsyncIterator[TransactionRow]:
        client = redis.from_url(url, socket_connect_timeout=5, socket_timeout=BLOCK_MILLISECONDS / 1000 + 5)
        try:
            position = await last_position(client, self.stream)
            while True:
                entries = await read_after(client, self.stream, position, block_ms=BLOCK_MILLISECONDS)
                if entries:
                    position = entries[-1][0]
                for _, event in entries:
                    if event is None or event.get("event_type") != TRANSACTION_COMPLETED:
                        continue
                    row = await self._row_when_written(str(event["transaction_id"]))
                    if row is not None and _matches(row, self.where):
                        yield row
        finally:
            await client.aclose()

    async def _row_when_written(self, transaction_id: str) -> TransactionRow | None:
        deadline = time.monotonic() + ROW_WAIT_SECONDS
        while True:
            rows = await self.history.rows([transaction_id])
            if rows and rows[0].status != "started":
                return rows[0]
            if time.monotonic() > deadline:
                return rows[0] if rows else None
            await asyncio.sleep(0.1)  # the row comes with the database writer's next batch


def line(terminal: Terminal, row: TransactionRow) -> str:
    """One transaction in one line: time, status, model, policy, API, duration, first byte, changed, id, prompt."""
    when = (iso(row.finished_at or row.started_at) or "")[:19].replace("T", " ")
    changed = terminal.style("Δ", "magenta", "bold") if row.changed else " "
    fields = [
        terminal.style(when, "gray"),
        terminal.status(row.status, 9),
        clip(row.model, 22).ljust(22),
        clip(row.policy, 16).ljust(16),
        (row.api or "-").ljust(9),
        ms(row.duration_ms).rjust(9),
        ("ttfb " + ms(row.time_to_first_byte_ms)).rjust(13),
        changed,
        terminal.style(row.transaction_id[:12], "cyan"),
        clip(row.error if row.status in ("blocked", "error", "timeout") and row.error else row.prompt_preview, 60),
    ]
    return "  ".join(fields)


def _matches(row: TransactionRow, where: TransactionFilter) -> bool:
    return all(
        wanted is None or getattr(row, name) == wanted
        for name, wanted in (
            ("model", where.model),
            ("policy", where.policy),
            ("status", where.status),
            ("api", where.api),
        )
    )
