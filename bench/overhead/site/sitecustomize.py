"""Loaded into every arm's proxy alike: logs the CPU time of each gen-2 garbage collection.

One line per collection, `<pid> <cpu seconds>`, appended to the file `BENCH_GC_LOG` names.
CPU is `time.process_time()` at the collection's start and stop.
"""

from __future__ import annotations

import gc
import os
import time

_path = os.environ.get("BENCH_GC_LOG")
_started = 0.0


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _started
    if info.get("generation") != 2:
        return
    if phase == "start":
        _started = time.process_time()
        return
    spent = time.process_time() - _started
    with open(_path, "a") as log:  # type: ignore[arg-type]
        log.write(f"{os.getpid()} {spent:.6f}\n")


if _path:
    gc.callbacks.append(_on_gc)
