"""A local spool of events a sink could not take yet, replayed later in order.

Layout: `<spool_dir>/<sink>/<instance>/<position>-<batch_id>-<count>.jsonl`, one JSON-lines file
("segment") per batch, written to a temporary name, fsync'd and renamed, so a segment is either
complete or absent. Positions order the segments; the batch id lets a sink recognise a batch it
may already have received (Redis). Segments are immutable: a replayed segment is deleted once the
sink took it.

Every process owns its own `<instance>` directory, held with an exclusive `flock` for its life,
so workers sharing a `spool_dir` never touch each other's files. At start a spool adopts the
directories of processes that are gone (their lock is free): that is how a restart replays what
the previous process left behind. The directory names its process (`process`, the identity its
transactions are recorded with); after the adopted segments comes one more, a `process.exited`
event for that process, so its sink closes what the dead process left `started` — after its
last events, and durably even while the sink is down. Methods do blocking file I/O; the writer
runs them in a thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from luthien_litellm_plugin.events import PROCESS_EXITED, PROCESS_EXITED_ERROR, RecordedEvent
from luthien_litellm_plugin.process import process_id
from luthien_litellm_plugin.types import JSONObject

logger = logging.getLogger("luthien_litellm_plugin.storage")

SEGMENT_SUFFIX = ".jsonl"
TMP_SUFFIX = ".tmp"
LOCK_FILE = ".lock"
PROCESS_FILE = "process"
"""Holds the identity of the process owning the directory."""
NEW_PREFIX = ".new-"
"""A directory being created (not yet locked): never adopted."""
REJECTED_FILE = "rejected.jsonl"


@dataclass(frozen=True, slots=True)
class Segment:
    """One spooled batch on disk."""

    position: int
    batch_id: str
    count: int
    path: Path

    @classmethod
    def parse(cls, path: Path) -> Segment | None:
        """The segment a file name describes, or None for any other file."""
        if not path.name.endswith(SEGMENT_SUFFIX):
            return None
        parts = path.name.removesuffix(SEGMENT_SUFFIX).split("-")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[2].isdigit():
            return None
        return cls(int(parts[0]), parts[1], int(parts[2]), path)


def segment_name(position: int, batch_id: str, count: int) -> str:
    return f"{position:016d}-{batch_id}-{count}{SEGMENT_SUFFIX}"


_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))


def encode(events: Iterable[RecordedEvent]) -> bytes:
    """Events as JSON lines (`RecordedEvent.as_record()`)."""
    return "".join(_ENCODER.encode(event.as_record()) + "\n" for event in events).encode()


def decode(data: bytes) -> tuple[list[RecordedEvent], int]:
    """Events from JSON lines, and how many lines could not be read."""
    events: list[RecordedEvent] = []
    unreadable = 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            events.append(RecordedEvent.from_record(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            unreadable += 1
    return events, unreadable


def process_exited(process: str) -> RecordedEvent:
    """The event a spool leaves for its sink when it finds `process` gone (its id is derived from the
    process's, so the event is written once however many times it is found)."""
    payload: JSONObject = {"process": process, "error": PROCESS_EXITED_ERROR}
    return RecordedEvent("", PROCESS_EXITED, payload, event_id=f"process-exited:{process}")


class Spool:
    """The spool of one sink in this process. Thread-safe; opened lazily by any operation.

    `process` is the identity of the process the spool belongs to (default: this process's).
    """

    def __init__(self, directory: str | Path, name: str, *, process: str | None = None) -> None:
        self.name = name
        self.root = Path(directory) / name
        self.process = process if process is not None else process_id()
        self.instance = f"{os.getpid()}-{os.urandom(4).hex()}"
        self.path = self.root / self.instance
        self.exited: list[str] = []
        """Processes found gone by this spool (a `process.exited` event was spooled for each)."""
        self._mutex = threading.RLock()
        self._lock_fd: int | None = None
        self._segments: dict[int, Segment] = {}
        self._events = 0
        self._next_position = 0
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Create this process's directory, take its lock and adopt orphaned spools."""
        with self._mutex:
            if self._lock_fd is not None:
                return
            if self._closed:  # reopened after close (events submitted after shutdown)
                self._closed = False
            self._lock_fd = self._create_locked() if not self.path.exists() else self._lock(self.path)
            for path in sorted(self.path.iterdir()):
                segment = Segment.parse(path)
                if segment is not None:
                    self._index(segment)
            self._adopt_orphans()

    def _create_locked(self) -> int:
        """Create this process's directory already locked and named: it is built under a name other
        starts ignore, then renamed, so no start can take it for an orphan in between."""
        building = self.root / f"{NEW_PREFIX}{self.instance}"
        building.mkdir(parents=True)
        fd = self._lock(building)
        building.rename(self.path)
        return fd

    def _lock(self, directory: Path) -> int:
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _write_durably(directory / PROCESS_FILE, self.process.encode())
        return fd

    def close(self) -> None:
        """Release the lock; remove this process's directory when nothing is left in it."""
        with self._mutex:
            fd, self._lock_fd = self._lock_fd, None
            self._closed = True
            if fd is None:
                return
            if not self._segments:
                for leftover in (self.path / LOCK_FILE, self.path / PROCESS_FILE, *self.path.glob(f"*{TMP_SUFFIX}")):
                    leftover.unlink(missing_ok=True)
                with contextlib.suppress(OSError):  # something else is in it: the next start adopts it
                    self.path.rmdir()
            os.close(fd)

    # -- segments --------------------------------------------------------------------------

    @property
    def next_position(self) -> int:
        """The position after every segment seen so far (adopted ones included)."""
        with self._mutex:
            return self._next_position

    def write(self, position: int, batch_id: str, events: Sequence[RecordedEvent]) -> Segment:
        """Durably store one batch. The caller orders batches by `position` (at least
        `next_position` after `open`). Raises OSError (disk full, …)."""
        with self._mutex:
            self.open()
            final = self.path / segment_name(position, batch_id, len(events))
            _write_durably(final, encode(events))
            segment = Segment(position, batch_id, len(events), final)
            self._index(segment)
            return segment

    def read(self, segment: Segment) -> tuple[list[RecordedEvent], int]:
        """The segment's events, and the number of lines that could not be read (0 unless the
        file was damaged outside this program)."""
        return decode(segment.path.read_bytes())

    def delete(self, segment: Segment) -> None:
        with self._mutex:
            segment.path.unlink(missing_ok=True)
            if self._segments.pop(segment.position, None) is not None:
                self._events -= segment.count

    def segments(self) -> list[Segment]:
        """Every segment of this spool, oldest first."""
        with self._mutex:
            self.open()
            return sorted(self._segments.values(), key=lambda s: s.position)

    def reject(self, events: Sequence[RecordedEvent], reason: str) -> None:
        """Keep events the sink refused as invalid in `<sink>/rejected.jsonl`, for an operator."""
        self.root.mkdir(parents=True, exist_ok=True)
        lines = "".join(
            json.dumps({"reason": reason, "event": e.as_record()}, default=str) + "\n" for e in events
        ).encode()
        fd = os.open(self.root / REJECTED_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, lines)
            os.fsync(fd)
        finally:
            os.close(fd)

    def __len__(self) -> int:
        """Events in the spool."""
        with self._mutex:
            return self._events

    @property
    def empty(self) -> bool:
        with self._mutex:
            return not self._segments

    # -- internals -------------------------------------------------------------------------

    def _index(self, segment: Segment) -> None:
        replaced = self._segments.get(segment.position)
        self._events += segment.count - (replaced.count if replaced else 0)
        self._segments[segment.position] = segment
        self._next_position = max(self._next_position, segment.position + 1)

    def _adopt_orphans(self) -> None:
        """Move the segments of every instance directory whose process is gone into ours, after
        our own, oldest orphan first; then note each gone process (`process_exited`)."""
        orphans: list[tuple[float, Path, int, list[Path]]] = []
        for other in sorted(self.root.iterdir()):
            if other == self.path or not other.is_dir() or other.name.startswith(NEW_PREFIX):
                continue
            claimed = self._claim(other)
            if claimed is None:
                continue
            directory, fd = claimed
            files = sorted(p for p in directory.iterdir() if p.name != LOCK_FILE)
            oldest = min((p.stat().st_mtime for p in files), default=0.0)
            orphans.append((oldest, directory, fd, files))
        for _, directory, fd, files in sorted(orphans, key=lambda orphan: orphan[0]):
            try:
                self._adopt(directory, files)
            finally:
                (directory / LOCK_FILE).unlink(missing_ok=True)
                os.close(fd)
                try:
                    directory.rmdir()
                except OSError as error:
                    logger.warning("luthien spool %s: could not remove %s: %s", self.name, directory, error)

    def _claim(self, other: Path) -> tuple[Path, int] | None:
        """Take the directory of a process that is gone: lock it, then move it out of every other
        adopter's sight (a rename is atomic), so exactly one start adopts it. None: alive, or
        taken by another start meanwhile."""
        lock = other / LOCK_FILE
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:  # removed meanwhile by another adopter
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino != os.stat(lock).st_ino:
                raise FileNotFoundError(lock)  # another adopter finished with it and removed that lock
            claimed = self.root / f"{other.name}.adopted-by-{self.instance}"
            other.rename(claimed)
        except OSError:  # its process is alive (BlockingIOError), or it is gone from under us
            os.close(fd)
            return None
        return claimed, fd

    def _adopt(self, directory: Path, files: list[Path]) -> None:
        files = [directory / file.name for file in files]  # the directory was renamed when claimed
        segments = sorted((s for s in map(Segment.parse, files) if s is not None), key=lambda s: s.position)
        adopted = 0
        for segment in segments:
            position = self._next_position
            target = self.path / segment_name(position, segment.batch_id, segment.count)
            segment.path.rename(target)
            self._index(Segment(position, segment.batch_id, segment.count, target))
            adopted += segment.count
        for tmp in (p for p in files if p.name.endswith(SEGMENT_SUFFIX + TMP_SUFFIX)):
            # A process died while writing this batch: keep every complete line.
            salvaged = Segment.parse(tmp.with_name(tmp.name.removesuffix(TMP_SUFFIX)))
            events, unreadable = decode(tmp.read_bytes())
            if salvaged is not None and events:
                self.write(self._next_position, salvaged.batch_id, events)
                adopted += len(events)
            if unreadable:
                logger.error("luthien spool %s: %d unreadable lines in %s", self.name, unreadable, tmp)
            tmp.unlink()
        process = _read_process(directory / PROCESS_FILE)
        for other in files:
            if other.exists() and Segment.parse(other) is None and not other.name.endswith(TMP_SUFFIX):
                if other.name == PROCESS_FILE:
                    other.unlink()
                else:
                    other.rename(self.path / other.name)  # unknown file: keep it, never delete data
        if adopted:
            logger.info("luthien spool %s: adopted %d events left by %s", self.name, adopted, directory.name)
        if process is not None and process != self.process:
            self.write(self._next_position, os.urandom(8).hex(), [process_exited(process)])
            self.exited.append(process)
            logger.info(
                "luthien spool %s: process %s is gone; its open transactions will be closed", self.name, process
            )


def _read_process(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):  # a spool from before processes were recorded, or damaged
        return None


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + TMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.rename(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
