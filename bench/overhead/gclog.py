"""The garbage collections of a proxy (see `site/sitecustomize.py`): its gen-2 collections, logged
one by one, and its running totals per generation."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

SITE = Path(__file__).resolve().parent / "site"
"""The directory put first on every arm's PYTHONPATH: its `sitecustomize.py` logs the collections."""
ENV = "BENCH_GC_LOG"
STATS_ENV = "BENCH_GC_STATS"
_STATS = struct.Struct("<3q3d")  # collections per generation, then CPU seconds per generation


@dataclass(frozen=True)
class Generations:
    """Running totals of one process's collections: how many, and their CPU seconds, per generation."""

    counts: tuple[int, int, int] = (0, 0, 0)
    cpu_seconds: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @classmethod
    def read(cls, path: Path) -> Generations:
        """The totals the proxy keeps in `path` (zeros before it wrote any)."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls()
        if len(data) < _STATS.size:
            return cls()
        c0, c1, c2, t0, t1, t2 = _STATS.unpack_from(data)
        return cls((c0, c1, c2), (t0, t1, t2))

    def since(self, earlier: Generations) -> Generations:
        (c0, c1, c2), (e0, e1, e2) = self.counts, earlier.counts
        (t0, t1, t2), (s0, s1, s2) = self.cpu_seconds, earlier.cpu_seconds
        return Generations((c0 - e0, c1 - e1, c2 - e2), (t0 - s0, t1 - s1, t2 - s2))

    @property
    def young(self) -> int:
        """Gen-0 and gen-1 collections: what allocation on the request path triggers."""
        return self.counts[0] + self.counts[1]

    @property
    def young_cpu_seconds(self) -> float:
        return self.cpu_seconds[0] + self.cpu_seconds[1]


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
    """One proxy's log: `mark()` before a measurement, `since(mark)` after it; its running totals
    per generation: `generations()`."""

    def __init__(self, path: Path, stats: Path | None = None) -> None:
        self.path = path
        self.stats = stats

    def generations(self) -> Generations:
        return Generations() if self.stats is None else Generations.read(self.stats)

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, mark: int) -> Collections:
        if not self.path.exists():
            return Collections(0, 0.0)
        with self.path.open("rb") as log:
            log.seek(mark)
            return parse(log.read().decode())
