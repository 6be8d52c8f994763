"""What a durable destination of events must do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from luthien_litellm_plugin.observability.events import RecordedEvent


class EventStore(Protocol):
    """A destination for batches of events. `write` is idempotent per `event_id` (replays happen)."""

    name: str

    async def open(self) -> None:
        """Connect and prepare (e.g. apply migrations). May be called again after a failure."""

    async def write(self, batch: Sequence[RecordedEvent]) -> None:
        """Write the whole batch, or raise."""

    async def close(self) -> None: ...
