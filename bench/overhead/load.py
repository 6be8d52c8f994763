"""Foreign load: the machine's busy CPU time minus the benchmark's own processes'."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from bench.overhead.processes import TICKS, tree_jiffies

BUSY_FIELDS = (0, 1, 2, 5, 6, 7)
"""user, nice, system, irq, softirq, steal of `/proc/stat`'s `cpu` line (guest time is inside user)."""


def busy_jiffies(stat: str) -> int:
    """Busy jiffies of all CPUs together, from the text of `/proc/stat`."""
    fields = stat.splitlines()[0].split()
    assert fields[0] == "cpu", fields[0]
    values = [int(v) for v in fields[1:]]
    return sum(values[i] for i in BUSY_FIELDS if i < len(values))


def foreign_cores(busy: int, own: int, seconds: float, ticks: int = TICKS) -> float:
    """Cores' worth of CPU others used: busy jiffies not ours, over `seconds` (never negative)."""
    if seconds <= 0:
        return 0.0
    return max(0.0, (busy - own) / ticks / seconds)


@dataclass(frozen=True)
class Reading:
    busy: int
    own: int
    at: float


def read() -> Reading:
    """The machine's busy jiffies and the jiffies of this process's whole tree (proxies, upstreams)."""
    return Reading(busy_jiffies(Path("/proc/stat").read_text()), tree_jiffies(os.getpid()), time.monotonic())


def between(before: Reading, after: Reading) -> float:
    """Foreign load, in cores, between two readings."""
    return foreign_cores(after.busy - before.busy, after.own - before.own, after.at - before.at)
