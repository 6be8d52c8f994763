"""Loaded into every arm's proxy alike: accounts for its garbage collections.

- Each gen-2 collection: one line `<pid> <cpu seconds>` appended to the file `BENCH_GC_LOG` names.
- Every collection, when `BENCH_GC_STATS` names a file: the process's running totals per
  generation (collections, CPU seconds), kept in that file through a memory map. Updating it is a
  store to memory, not a write per collection, so it costs every arm alike and almost nothing;
  the benchmark reads the totals before and after a measurement (`gclog.Generations`).

CPU is `time.process_time()` at the collection's start and stop.
"""

from __future__ import annotations

import gc
import mmap
import os
import struct
import time

_path = os.environ.get("BENCH_GC_LOG")
_stats_path = os.environ.get("BENCH_GC_STATS")
_STATS = struct.Struct("<3q3d")  # the layout `bench.overhead.gclog.Generations` reads
_started = 0.0
_counts = [0, 0, 0]
_cpu = [0.0, 0.0, 0.0]
_stats: mmap.mmap | None = None


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _started
    if phase == "start":
        _started = time.process_time()
        return
    spent = time.process_time() - _started
    generation = info.get("generation", 0)
    if _stats is not None:
        _counts[generation] += 1
        _cpu[generation] += spent
        _STATS.pack_into(_stats, 0, *_counts, *_cpu)
    if generation == 2 and _path:
        with open(_path, "a") as log:
            log.write(f"{os.getpid()} {spent:.6f}\n")


def _map_stats(path: str) -> mmap.mmap:
    with open(path, "wb") as created:
        created.write(bytes(_STATS.size))
    with open(path, "r+b") as opened:
        return mmap.mmap(opened.fileno(), _STATS.size)  # the map outlives the file object


if _stats_path:
    _stats = _map_stats(_stats_path)
if _path or _stats_path:
    gc.callbacks.append(_on_gc)
