"""Per-sink delivery counters, mirrored as OpenTelemetry counters `luthien.sink.<name>{sink=…}`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from luthien_litellm_plugin import metrics

CounterName = Literal["written", "spooled", "replayed", "rejected", "dropped", "failures"]


@dataclass(frozen=True, slots=True)
class SinkStats:
    """One sink's counters. Immutable: `add` returns the next value, so any value is a snapshot.

    `written`: events written straight from memory. `spooled`: events put in the local spool.
    `replayed`: events written from the spool (also from a previous process's spool).
    `rejected`: events the sink refused as invalid, kept in `<spool_dir>/<sink>/rejected.jsonl`.
    `dropped`: events lost (a spool file damaged or removed from outside, a full disk at exit).
    `failures`: failed attempts (connect, write, spool).
    """

    sink: str
    written: int = 0
    spooled: int = 0
    replayed: int = 0
    rejected: int = 0
    dropped: int = 0
    failures: int = 0

    def add(self, name: CounterName, count: int = 1) -> SinkStats:
        """These counters with `count` more `name`, also added to the OpenTelemetry counter."""
        if not count:
            return self
        metrics.counter(f"luthien.sink.{name}").add(count, {"sink": self.sink})
        return replace(self, **{name: getattr(self, name) + count})

    def summary(self) -> str:
        line = (
            f"luthien sink {self.sink}: written={self.written} spooled={self.spooled} "
            f"replayed={self.replayed} dropped={self.dropped} failures={self.failures}"
        )
        return f"{line} rejected={self.rejected}" if self.rejected else line
