"""The gen-2 garbage collections a proxy logged (see `site/sitecustomize.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SITE = Path(__file__).resolve().parent / "site"
"""The directory put first on every arm's PYTHONPATH: its `sitecustomize.py` logs the collections."""
ENV = "BENCH_GC_LOG"


@dataclass(frozen=True)
class Collections:
    """Gen-2 collections in a window: how many, and the CPU seconds they took."""

    count: int
    cpu_seconds: float


def parse(text: str) -> Collections:
    """Collections from log lines `<pid> <cpu seconds>`."""
    seconds = [float(line.split()[1]) for line in text.splitlines() if line.strip()]
    return Collections(len(seconds), sum(seconds))


class GcLog:
    """One proxy's log: `mark()` before a measurement, `since(mark)` after it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, mark: int) -> Collections:
        if not self.path.exists():
            return Collections(0, 0.0)
        with self.path.open("rb") as log:
            log.seek(mark)
            return parse(log.read().decode())
