"""The spool: durable segments in order, one directory per process, adoption after a restart."""

from __future__ import annotations

import fcntl
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from luthien_litellm_plugin.storage.spool import LOCK_FILE, PROCESS_FILE, Segment, Spool, encode, segment_name
from tests.unit.storage.fakes import ids, make_events


def test_segments_round_trip_in_position_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "postgres")
    first, second = make_events(3), make_events(2, prefix="u")
    spool.write(1, "bbbb", second)
    spool.write(0, "aaaa", first)  # a batch taken earlier may reach the disk later
    segments = spool.segments()
    assert [(s.position, s.batch_id, s.count) for s in segments] == [(0, "aaaa", 3), (1, "bbbb", 2)]
    assert [ids(spool.read(s)[0]) for s in segments] == [ids(first), ids(second)]
    assert len(spool) == 5 and not spool.empty
    assert spool.read(segments[0])[0][0] == first[0]  # payload, sequence, created_at survive
    for segment in segments:
        spool.delete(segment)
    assert spool.empty and len(spool) == 0
    spool.close()
    assert not (tmp_path / "postgres" / spool.instance).exists()  # nothing left: directory removed


def test_no_partial_segment_is_ever_visible(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "redis")
    spool.write(0, "aaaa", make_events(4))
    files = sorted(p.name for p in spool.path.iterdir())
    assert files == [LOCK_FILE, segment_name(0, "aaaa", 4), PROCESS_FILE]  # written as .tmp, fsync'd, renamed


def test_a_restart_adopts_the_spool_of_a_dead_process_in_order(tmp_path: Path) -> None:
    old = Spool(tmp_path, "postgres")
    events = make_events(6)
    old.write(0, "aaaa", events[:3])
    old.write(1, "bbbb", events[3:])
    old.close()  # the process is gone: its lock is free, its segments stay

    new = Spool(tmp_path, "postgres")
    segments = new.segments()
    assert [s.batch_id for s in segments] == ["aaaa", "bbbb"]  # batch ids kept (Redis dedupe)
    assert [e for s in segments for e in ids(new.read(s)[0])] == ids(events)
    assert not old.path.exists()
    assert new.next_position == 2  # its own batches go after the adopted ones


def test_a_live_process_keeps_its_spool(tmp_path: Path) -> None:
    live = Spool(tmp_path, "postgres")
    live.write(0, "aaaa", make_events(2))
    other = Spool(tmp_path, "postgres")  # another worker sharing spool_dir
    assert other.segments() == []
    assert len(live.segments()) == 1 and live.path.exists()


def test_an_interrupted_write_is_salvaged_line_by_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dead = tmp_path / "postgres" / "123-dead"
    dead.mkdir(parents=True)
    events = make_events(3)
    data = encode(events)
    (dead / (segment_name(0, "cccc", 3) + ".tmp")).write_bytes(data[: len(data) - 10])  # cut mid-line
    with caplog.at_level(logging.ERROR):
        spool = Spool(tmp_path, "postgres")
        [segment] = spool.segments()
    assert ids(spool.read(segment)[0]) == ids(events[:2])
    assert segment.batch_id == "cccc"
    assert "1 unreadable lines" in caplog.text


def test_unreadable_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "sqlite")
    segment = spool.write(0, "aaaa", make_events(2))
    segment.path.write_bytes(segment.path.read_bytes() + b"{not json\n")
    events, unreadable = spool.read(segment)
    assert (len(events), unreadable) == (2, 1)


def test_the_instance_lock_is_held_while_open(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "redis")
    spool.open()
    fd = os.open(spool.path / LOCK_FILE, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        spool.close()
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released
    finally:
        os.close(fd)


def test_rejected_events_are_kept_for_an_operator(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "postgres")
    [event] = make_events(1)
    spool.reject([event], "DataError: bad")
    [line] = (tmp_path / "postgres" / "rejected.jsonl").read_text().splitlines()
    assert json.loads(line) == {"reason": "DataError: bad", "event": json.loads(encode([event]))}


def test_segment_names_parse_back() -> None:
    path = Path("/x") / segment_name(42, "abcdef", 7)
    assert Segment.parse(path) == Segment(42, "abcdef", 7, path)
    assert Segment.parse(Path("/x/.lock")) is None
    assert Segment.parse(Path("/x/notes.jsonl")) is None


def killed(spool: Spool) -> None:
    """What a process's death does to its spool: its lock is released, nothing is cleaned up."""
    assert spool._lock_fd is not None
    os.close(spool._lock_fd)


def test_a_gone_process_is_noted_after_its_segments_for_the_sink(tmp_path: Path) -> None:
    old = Spool(tmp_path, "sqlite", process="4242-deadbeef")
    events = make_events(2)
    old.write(0, "aaaa", events)
    empty = Spool(tmp_path, "sqlite", process="4343-deadbeef")
    empty.open()  # a process that leaves nothing to replay is noted too
    killed(old)
    killed(empty)
    new = Spool(tmp_path, "sqlite", process="4444-alive")
    segments = new.segments()
    replayed = [event for segment in segments for event in new.read(segment)[0]]
    assert ids(replayed[:2]) == ids(events)
    exited = replayed[2:]
    assert sorted(e.payload["process"] for e in exited) == ["4242-deadbeef", "4343-deadbeef"]  # type: ignore[type-var]
    assert {(e.event_type, e.transaction_id) for e in exited} == {("process.exited", "")}
    assert exited[0].event_id == f"process-exited:{exited[0].payload['process']}"  # written once however found
    assert sorted(new.exited) == ["4242-deadbeef", "4343-deadbeef"]
    assert sorted(p.name for p in (tmp_path / "sqlite").iterdir()) == [new.instance]


def test_its_own_process_is_never_noted_as_gone(tmp_path: Path) -> None:
    Spool(tmp_path, "sqlite", process="same").close()
    new = Spool(tmp_path, "sqlite", process="same")  # e.g. a pipeline rebuilt in the same process
    assert new.segments() == [] and new.exited == []


def test_concurrent_starts_adopt_a_gone_process_exactly_once(tmp_path: Path) -> None:
    dead = [Spool(tmp_path, "postgres", process=f"dead-{index}") for index in range(3)]
    for index, spool in enumerate(dead):
        spool.write(0, f"seg{index}", make_events(2, prefix=f"d{index}"))
    for spool in dead:
        killed(spool)
    starts = [Spool(tmp_path, "postgres", process=f"worker-{index}") for index in range(8)]
    with ThreadPoolExecutor(len(starts)) as pool:
        list(pool.map(Spool.open, starts))
    assert sorted(process for spool in starts for process in spool.exited) == ["dead-0", "dead-1", "dead-2"]
    adopted = [e.event_id for spool in starts for s in spool.segments() for e in spool.read(s)[0]]
    assert len(adopted) == len(set(adopted)) == 3 * 3  # two events and one note per gone process
