"""What changed since the page last asked: read from the Redis feed when there is one, otherwise
from the database.

The page polls `GET api/changes?cursor=…` (short requests: a long-lived stream would count as an
in-flight request for LiteLLM's admission control and metrics for as long as a tab is open).

With Redis the cursor is a position in the stream `luthien:events`: the answer names the
transactions whose request or completion was published since, as their rows show them (the feed
and the database are written by separate writers, so a row may lag the feed by a batch: the
answer waits briefly for it, and names the ones still missing as `pending`). Without Redis, or
while Redis is unreachable, the cursor is a fingerprint of the last day's rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import redis.asyncio as redis
from redis.exceptions import RedisError

from luthien_litellm_plugin.events import TRANSACTION_COMPLETED, TRANSACTION_REQUEST_RECORDED
from luthien_litellm_plugin.history.feed import last_position, read_after
from luthien_litellm_plugin.history.reader import TransactionHistory
from luthien_litellm_plugin.types import JSONObject, JSONValue

logger = logging.getLogger("luthien_litellm_plugin.viewer")

FINGERPRINT_WINDOW_SECONDS = 24 * 3600
ROW_WAIT_SECONDS = 1.5
"""How long an answer waits for the rows of the events it read (the database writer flushes every
50 ms; a database that is down gets its events later, from the spool)."""
ROW_POLL_SECONDS = 0.1
_READ_COUNT = 500
_WATCHED = frozenset({TRANSACTION_REQUEST_RECORDED, TRANSACTION_COMPLETED})


@dataclass(frozen=True)
class Changes:
    mode: str
    """`redis` or `database`: where the changes were read."""
    cursor: str
    changed: bool
    transactions: list[JSONObject] = field(default_factory=list)
    """`{transaction_id, status}` of each transaction seen to change, as its row shows it now (Redis mode)."""
    pending: list[JSONValue] = field(default_factory=list)
    """Ids of transactions the feed reported whose rows are not in the database yet."""

    def to_json(self) -> JSONObject:
        found: list[JSONValue] = list(self.transactions)
        return {
            "mode": self.mode,
            "cursor": self.cursor,
            "changed": self.changed,
            "transactions": found,
            "pending": list(self.pending),
        }


class ChangeFeed:
    """Answers `changes(cursor)`; a cursor from one mode given to the other starts over."""

    def __init__(self, history: TransactionHistory, redis_url: str | None, stream: str = "luthien:events") -> None:
        self.history = history
        self.redis_url = redis_url
        self.stream = stream
        self._client: redis.Redis | None = None

    @property
    def mode(self) -> str:
        return "redis" if self.redis_url else "database"

    async def changes(self, cursor: str | None) -> Changes:
        if self.redis_url:
            try:
                return await self._from_redis(cursor if cursor and cursor.startswith("r:") else None)
            except (RedisError, OSError) as error:
                logger.warning("luthien viewer: Redis feed unreadable (%s); reading the database instead", error)
        return await self._from_database(cursor if cursor and cursor.startswith("d:") else None)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _from_database(self, cursor: str | None) -> Changes:
        fingerprint = "d:" + await self.history.fingerprint(time.time() - FINGERPRINT_WINDOW_SECONDS)
        return Changes("database", fingerprint, changed=cursor is not None and cursor != fingerprint)

    async def _from_redis(self, cursor: str | None) -> Changes:
        client = self._redis()
        if cursor is None:
            return Changes("redis", "r:" + await last_position(client, self.stream), changed=False)
        entries = await read_after(client, self.stream, cursor[2:], count=_READ_COUNT)
        position = entries[-1][0] if entries else cursor[2:]
        watched: dict[str, str] = {}  # transaction id → the last watched event type seen
        for _, event in entries:
            if event is not None and event.get("event_type") in _WATCHED:
                watched[str(event["transaction_id"])] = str(event["event_type"])
        statuses = await self._rows_for(watched)
        shown: list[JSONObject] = [{"transaction_id": t, "status": s} for t, s in statuses.items()]
        pending: list[JSONValue] = [t for t in watched if t not in statuses]
        return Changes("redis", "r:" + position, changed=bool(watched), transactions=shown, pending=pending)

    async def _rows_for(self, watched: dict[str, str]) -> dict[str, str]:
        """The statuses of the watched transactions whose rows show the event, waiting up to
        `ROW_WAIT_SECONDS` for rows the database writer has not written yet."""
        deadline = time.monotonic() + ROW_WAIT_SECONDS
        while True:
            statuses = await self.history.statuses(sorted(watched))
            visible = {t: s for t, s in statuses.items() if watched[t] != TRANSACTION_COMPLETED or s != "started"}
            if len(visible) == len(watched) or time.monotonic() >= deadline:
                return visible
            await asyncio.sleep(ROW_POLL_SECONDS)  # the row comes with the database writer's next batch

    def _redis(self) -> redis.Redis:
        if self._client is None:
            assert self.redis_url is not None
            self._client = redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=5)
        return self._client
