"""`luthien spool`: what waits in the spool (events a store could not take yet) and what a store
refused (`rejected.jsonl`), and replaying both.

Replaying spooled events uses the plugin's own writer: it adopts the spools of processes that are
gone (a running proxy keeps its own and replays it itself) and writes them in order, exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.storage.pipeline import database_store, redis_feed, sink_writer
from luthien_litellm_plugin.storage.settings import StorageSettings
from luthien_litellm_plugin.storage.spool import LOCK_FILE, REJECTED_FILE, Segment, Spool
from luthien_litellm_plugin.storage.store import EventStore, RejectedBatch


@dataclass(frozen=True)
class SpoolFolder:
    """One process's spool of one sink."""

    sink: str
    path: Path
    batches: int
    events: int
    oldest: float | None
    """When the oldest batch was spooled (seconds since the epoch)."""
    owner_running: bool
    """Its process still runs (and replays it itself)."""

    @property
    def pid(self) -> int | None:
        head = self.path.name.split("-", 1)[0]
        return int(head) if head.isdigit() else None


@dataclass(frozen=True)
class RejectedEvents:
    sink: str
    path: Path
    count: int
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SpoolReport:
    root: Path
    folders: list[SpoolFolder]
    rejected: list[RejectedEvents]

    @property
    def waiting(self) -> int:
        return sum(folder.events for folder in self.folders)


def inspect_spool(root: Path) -> SpoolReport:
    """Read the spool without changing it (no adoption, no locks kept)."""
    folders: list[SpoolFolder] = []
    rejected: list[RejectedEvents] = []
    sinks = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for sink in sinks:
        for instance in sorted(p for p in sink.iterdir() if p.is_dir()):
            segments = [s for s in map(Segment.parse, instance.iterdir()) if s is not None]
            if not segments:
                continue
            oldest = min(s.path.stat().st_mtime for s in segments)
            events = sum(s.count for s in segments)
            folders.append(SpoolFolder(sink.name, instance, len(segments), events, oldest, _running(instance)))
        rejected_file = sink / REJECTED_FILE
        if rejected_file.is_file():
            reasons: dict[str, int] = {}
            count = 0
            for line in rejected_file.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.strip():
                    count += 1
                    reason = _reason(line)
                    reasons[reason] = reasons.get(reason, 0) + 1
            rejected.append(RejectedEvents(sink.name, rejected_file, count, reasons))
    return SpoolReport(root, folders, rejected)


@dataclass(frozen=True)
class ReplayResult:
    sink: str
    written: int
    left: int
    problem: str | None = None


def store_for(sink: str, settings: StorageSettings) -> EventStore | None:
    """The store this sink's spool belongs to, with these settings (None: not configured here)."""
    if sink == "redis":
        return redis_feed(settings)
    return database_store(settings) if sink == settings.backend else None


async def replay_spool(settings: StorageSettings, sinks: list[str], timeout: float) -> list[ReplayResult]:
    """Write the spooled events of stopped processes into their stores, for up to `timeout` seconds each."""
    results: list[ReplayResult] = []
    quick = settings.model_copy(update={"drain_timeout_seconds": 0.0})
    for sink in sinks:
        store = store_for(sink, settings)
        if store is None:
            results.append(ReplayResult(sink, 0, _waiting(settings, sink), _not_configured(sink, settings)))
            continue
        writer = sink_writer(store, quick)
        problem = None
        try:
            await writer.start()
            await asyncio.wait_for(writer.settle(), timeout)
        except TimeoutError:
            problem = f"{sink} did not take the events within {timeout:g} s (unreachable?)"
        finally:
            await writer.aclose()
        results.append(ReplayResult(sink, writer.stats().replayed, _waiting(settings, sink), problem))
    return results


async def replay_rejected(settings: StorageSettings, sinks: list[str]) -> list[ReplayResult]:
    """Try every rejected event again, one by one; those refused again go back to `rejected.jsonl`."""
    results: list[ReplayResult] = []
    for sink in sinks:
        path = Path(settings.spool_dir) / sink / REJECTED_FILE
        if not path.is_file():
            continue
        store = store_for(sink, settings)
        if store is None:
            results.append(ReplayResult(sink, 0, 0, _not_configured(sink, settings)))
            continue
        aside = path.with_name(f"{REJECTED_FILE}.replaying-{os.getpid()}")
        path.rename(aside)  # rejections by a running proxy go to a fresh file meanwhile
        remaining = _rejected_entries(aside)
        spool = Spool(Path(settings.spool_dir), sink)
        written = refused = 0
        problem = None
        try:
            await store.open()
            while remaining:
                event, _ = remaining[0]
                try:
                    await store.write([event], batch_id=f"rejected-{event.event_id}")
                    written += 1
                except RejectedBatch as error:
                    spool.reject([event], str(error))
                    refused += 1
                remaining = remaining[1:]
        except Exception as error:  # the store is unreachable: what is left goes back, untouched
            problem = f"cannot write to {sink}: {error}"
        finally:
            for event, reason in remaining:
                spool.reject([event], reason)
            refused += len(remaining)
            await store.close()
            aside.unlink(missing_ok=True)
        results.append(ReplayResult(sink, written, refused, problem))
    return results


def _rejected_entries(path: Path) -> list[tuple[RecordedEvent, str]]:
    """The events of a rejected file; lines that are not events go straight back to `rejected.jsonl`."""
    entries: list[tuple[RecordedEvent, str]] = []
    unreadable: list[str] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            entries.append((RecordedEvent.from_record(json.loads(line)["event"]), _reason(line)))
        except (ValueError, KeyError, TypeError):
            unreadable.append(line)
    if unreadable:
        with (path.parent / REJECTED_FILE).open("a", encoding="utf-8") as kept:
            kept.write("".join(line + "\n" for line in unreadable))
    return entries


def _waiting(settings: StorageSettings, sink: str) -> int:
    return sum(f.events for f in inspect_spool(Path(settings.spool_dir)).folders if f.sink == sink)


def _not_configured(sink: str, settings: StorageSettings) -> str:
    if sink == "redis":
        return "spooled for Redis, but no Redis URL is set (--redis-url / LUTHIEN_REDIS_URL)"
    return f"spooled for {sink}, but the database URL points at {settings.backend} (--database-url)"


def _running(instance: Path) -> bool:
    """Whether the process owning this spool folder holds its lock (a free lock: it is gone)."""
    try:
        fd = os.open(instance / LOCK_FILE, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _reason(line: str) -> str:
    try:
        reason = json.loads(line).get("reason")
    except (ValueError, AttributeError):
        return "unreadable line"
    return str(reason) if reason else "unknown"
