"""Per-sink delivery counters, mirrored as OpenTelemetry counters `luthien.sink.<name>{sink=…}`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from luthien_litellm_plugin import metrics

CounterName = Literal["written", "spooled", "replayed", "rejected", "dropped", "failures"]


@dataclass(frozen=True, slots=True)
class SinkStats:
    """A snapshot of one sink's counters.

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

    def summary(self) -> str:
        line = (
            f"luthien sink {self.sink}: written={self.written} spooled={self.spooled} "
            f"replayed={self.replayed} dropped={self.dropped} failures={self.failures}"
        )
        return f"{line} rejected={self.rejected}" if self.rejected else line


@dataclass(slots=True)
class SinkCounters:
    """The live counters of one sink. Read them with `snapshot()`."""

    sink: str
    written: int = 0
    spooled: int = 0
    replayed: int = 0
    rejected: int = 0
    dropped: int = 0
    failures: int = 0

    def add(self, name: CounterName, count: int = 1) -> None:
        if count:
            setattr(self, name, getattr(self, name) + count)
            metrics.counter(f"luthien.sink.{name}").add(count, {"sink": self.sink})

    def snapshot(self) -> SinkStats:
        return SinkStats(**{field.name: getattr(self, field.name) for field in fields(self)})

    def summary(self) -> str:
        return self.snapshot().summary()
