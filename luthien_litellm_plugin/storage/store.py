"""What a destination of events (database, Redis) must do for a `SinkWriter`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from luthien_litellm_plugin.events import RecordedEvent


class RejectedBatch(Exception):
    """The store refused the batch's content (not a connectivity problem): retrying it as a whole
    can never succeed. The writer then retries its events one by one to isolate the bad ones."""


class EventStore(Protocol):
    """A destination for batches of events.

    `write` must be idempotent: the same batch (same `batch_id`, same events) may be written again
    after a failure whose outcome was unknown, and must then leave no duplicates.
    """

    name: str

    async def open(self) -> None:
        """Connect and prepare (e.g. apply migrations). Called before every write; cheap when
        already open, and called again after `close` when a failure reset the connection."""

    async def write(self, events: Sequence[RecordedEvent], *, batch_id: str) -> None:
        """Write the whole batch atomically, or raise (`RejectedBatch` for invalid content)."""

    async def close(self) -> None:
        """Release connections. Must not raise on an already broken connection."""
