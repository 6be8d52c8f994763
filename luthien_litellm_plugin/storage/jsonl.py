"""An event sink that appends each event as one JSON line to a file (debugging, tests)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from luthien_litellm_plugin.events import TRANSACTION_COMPLETED, RecordedEvent


class JsonLinesEventSink:
    """Appends events to `path`. Writes go to an in-memory buffer and reach the file when a
    transaction completes (or on `close`), so `submit` does no disk I/O per event.

    `{pid}` in the path is replaced by the process id: one file per proxy worker.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(str(path).replace("{pid}", str(os.getpid())))
        self._file = self.path.open("a", encoding="utf-8", buffering=1 << 16)

    def submit(self, event: RecordedEvent) -> None:
        self._file.write(json.dumps(event.as_record(), default=str) + "\n")
        if event.event_type == TRANSACTION_COMPLETED:
            self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_events(path: str | Path) -> list[dict[str, object]]:
    """Events from a file written by `JsonLinesEventSink` (with `{pid}`: from every worker's file)."""
    pattern = Path(path)
    files = sorted(pattern.parent.glob(pattern.name.replace("{pid}", "*")))
    events: list[dict[str, object]] = []
    for file in files:
        with file.open(encoding="utf-8") as handle:
            events.extend(json.loads(line) for line in handle if line.strip())
    return events
