"""Redis live feed: every event XADDed to a stream and PUBLISHed on a channel, exactly once."""

from __future__ import annotations

import json
from collections.abc import Sequence

import redis.asyncio as redis

from luthien_litellm_plugin.observability.events import RecordedEvent

# Marks the event id as seen and, only the first time, appends it to the stream and publishes
# it: replaying a batch after a failure never duplicates an event on the feed.
_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[3]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'event', ARGV[1])
  redis.call('PUBLISH', KEYS[3], ARGV[1])
  return 1
end
return 0
"""
SEEN_SECONDS = 6 * 3600
"""How long an event id is remembered: a spool replayed within this window never duplicates."""


class RedisFeed:
    """Writes batches with one pipelined round trip."""

    name = "redis"

    def __init__(
        self, url: str, *, stream: str = "luthien:events", channel: str = "luthien:events", maxlen: int = 100_000
    ) -> None:
        self.url = url
        self.stream = stream
        self.channel = channel
        self.maxlen = maxlen
        self._client: redis.Redis | None = None
        self._script_sha = ""

    async def open(self) -> None:
        if self._client is not None:
            return
        client = redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)
        try:
            self._script_sha = await client.script_load(_ONCE)
        except BaseException:
            await client.aclose()
            raise
        self._client = client

    async def write(self, batch: Sequence[RecordedEvent]) -> None:
        client = self._client
        if client is None:
            raise RuntimeError("RedisFeed.write before open")
        async with client.pipeline(transaction=False) as pipe:
            for event in batch:
                keys = (f"{self.stream}:seen:{event.event_id}", self.stream, self.channel)
                pipe.evalsha(self._script_sha, 3, *keys, message(event), self.maxlen, SEEN_SECONDS)
            await pipe.execute()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def message(event: RecordedEvent) -> str:
    return json.dumps(event.as_record(), default=str)
