"""A local append-only file of events a store could not take yet, replayed in order later."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from luthien_litellm_plugin.observability.events import RecordedEvent


class Spool:
    """JSON lines in `directory/<name>.spool`; survives a restart (a new Spool finds it)."""

    def __init__(self, directory: str | Path, name: str) -> None:
        self.path = Path(directory) / f"{name}.spool"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as handle:
            return sum(1 for _ in handle)

    @property
    def empty(self) -> bool:
        return not self.path.exists() or self.path.stat().st_size == 0

    def append(self, batch: Sequence[RecordedEvent]) -> None:
        lines = "".join(json.dumps(event.as_record(), default=str) + "\n" for event in batch)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[RecordedEvent]:
        if self.empty:
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [RecordedEvent.from_record(json.loads(line)) for line in handle if line.strip()]

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
