"""The Redis live feed: each event `XADD`ed to a stream (approximate `MAXLEN`) and `PUBLISH`ed on a
channel, both `luthien:events` by default, as the JSON of `RecordedEvent.as_record()`.

Exactly once: a batch is written by one Lua script, which Redis runs atomically, so a batch is
either entirely on the stream or not at all. The script first sets a marker key for the batch id
(`SET NX`) and does nothing if the marker exists. A batch whose outcome is unknown (the connection
broke mid-call) is spooled under the same batch id; replaying it is then a no-op if it had in fact
arrived. Markers expire after `dedupe_ttl_seconds`, and each call deletes the marker of the
previous batch, whose success the writer already knows: only a handful of markers ever exist.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript

from luthien_litellm_plugin.events import RecordedEvent

logger = logging.getLogger("luthien_litellm_plugin.storage")

# KEYS: stream, channel, this batch's marker[, a confirmed batch's marker to forget]
# ARGV: marker ttl (s), stream maxlen, one message per event
_WRITE_BATCH = """
if KEYS[4] and KEYS[4] ~= KEYS[3] then redis.call('DEL', KEYS[4]) end
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[1]) then return 0 end
for i = 3, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'event', ARGV[i])
  redis.call('PUBLISH', KEYS[2], ARGV[i])
end
return #ARGV - 2
"""
_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))
STREAM_FIELD = "event"
"""The stream entry field holding the event's JSON."""


class RedisFeed:
    """Writes each batch with one round trip (one script call)."""

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        stream: str = "luthien:events",
        channel: str = "luthien:events",
        maxlen: int = 100_000,
        dedupe_ttl_seconds: int = 7 * 24 * 3600,
        connect_timeout: float = 5.0,
        command_timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.stream = stream
        self.channel = channel
        self.maxlen = maxlen
        self.dedupe_ttl_seconds = dedupe_ttl_seconds
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._client: redis.Redis | None = None
        self._script: AsyncScript | None = None
        self._confirmed: str | None = None
        """Marker of the last batch known to be on the stream (deleted by the next call)."""

    def marker(self, batch_id: str) -> str:
        return f"{self.stream}:batch:{batch_id}"

    async def open(self) -> None:
        if self._client is not None:
            return
        client = redis.from_url(
            self.url,
            socket_timeout=self.command_timeout,
            socket_connect_timeout=self.connect_timeout,
            retry=Retry(NoBackoff(), 0),  # the writer retries, with backoff and a spool
        )
        try:
            await client.ping()
        except BaseException:
            await client.aclose()
            raise
        self._client = client
        self._script = client.register_script(_WRITE_BATCH)

    async def write(self, events: Sequence[RecordedEvent], *, batch_id: str) -> None:
        script = self._script
        if script is None:
            raise ConnectionError("RedisFeed.write before open")
        marker = self.marker(batch_id)
        keys = [self.stream, self.channel, marker]
        if self._confirmed is not None:
            keys.append(self._confirmed)
        args: list[str | int] = [self.dedupe_ttl_seconds, self.maxlen, *(message(event) for event in events)]
        await script(keys=keys, args=args)
        self._confirmed = marker

    async def close(self) -> None:
        # The last confirmed marker stays until it expires: deleting it here could wait on a broken
        # connection, and one key per process lifetime is harmless.
        client, self._client, self._script = self._client, None, None
        if client is None:
            return
        try:
            await client.aclose()
        except Exception as error:
            logger.debug("luthien redis: close: %r", error)


def message(event: RecordedEvent) -> str:
    """The JSON published for an event: `event_id`, `transaction_id`, `sequence`, `event_type`,
    `created_at` (epoch seconds), `payload`."""
    return _ENCODER.encode(event.as_record())
