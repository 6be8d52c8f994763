"""An in-memory `EventStore` whose failures a test controls, and small event helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.storage.store import RejectedBatch


class FakeStore:
    """Applies each batch id once, atomically, like the Redis feed. Switches:
    `down` (connect and write fail), `lose_replies` (the batch is applied, then the call fails:
    its outcome is unknown to the writer), `gate` (writes wait for it: a slow sink),
    `refuse` (event ids the store rejects as invalid)."""

    name = "fake"

    def __init__(self, *, down: bool = False) -> None:
        self.events: list[RecordedEvent] = []
        self.batches: list[int] = []
        self.batch_ids: set[str] = set()
        self.down = down
        self.lose_replies = False
        self.gate: asyncio.Event | None = None
        self.refuse: set[str] = set()
        self.attempts = 0
        self.entered = asyncio.Event()  # a write has begun
        self.wrote = asyncio.Event()  # a batch was applied

    async def open(self) -> None:
        if self.down:
            raise ConnectionError("fake store is down")

    async def write(self, events: Sequence[RecordedEvent], *, batch_id: str) -> None:
        self.attempts += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise ConnectionError("fake store is down")
        if any(event.event_id in self.refuse for event in events):
            raise RejectedBatch("invalid event")
        if batch_id not in self.batch_ids:
            self.batch_ids.add(batch_id)
            self.events.extend(events)
            self.batches.append(len(events))
            self.wrote.set()
        if self.lose_replies:
            raise ConnectionError("connection lost before the reply")

    async def close(self) -> None:
        return None

    @property
    def ids(self) -> list[str]:
        return [event.event_id for event in self.events]


def make_events(count: int, prefix: str = "t") -> list[RecordedEvent]:
    """`count` events, four per transaction, in submission order."""
    return [RecordedEvent(f"{prefix}{i // 4}", "policy.decision", {"index": i}, sequence=i % 4) for i in range(count)]


def ids(events: Sequence[RecordedEvent]) -> list[str]:
    return [event.event_id for event in events]
