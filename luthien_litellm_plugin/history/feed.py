"""Reading the Redis live feed back: the events on the stream `luthien:events`, after a position."""

from __future__ import annotations

import json
from typing import cast

import redis.asyncio as redis

from luthien_litellm_plugin.storage.redis_feed import STREAM_FIELD
from luthien_litellm_plugin.types import JSONObject

StreamEntry = tuple[bytes, dict[bytes, bytes]]
"""An entry of a Redis stream: its id and its fields."""


async def last_position(client: redis.Redis, stream: str) -> str:
    """The id of the stream's newest entry (`0-0` for an empty stream): read after it for what comes next."""
    last = cast(list[StreamEntry], await client.xrevrange(stream, count=1))
    return last[0][0].decode() if last else "0-0"


async def read_after(
    client: redis.Redis, stream: str, position: str, *, count: int = 500, block_ms: int | None = None
) -> list[tuple[str, JSONObject | None]]:
    """(entry id, event) of the entries after `position`, oldest first; an event is None when the
    entry does not hold one. With `block_ms`, waits that long for a first entry."""
    found = cast(
        list[tuple[bytes, list[StreamEntry]]], await client.xread({stream: position}, count=count, block=block_ms)
    )
    return [(entry_id.decode(), _event(fields)) for _, entries in found for entry_id, fields in entries]


def _event(fields: dict[bytes, bytes]) -> JSONObject | None:
    raw = fields.get(STREAM_FIELD.encode())
    try:
        event = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return event if isinstance(event, dict) and "transaction_id" in event else None
