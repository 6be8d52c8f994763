"""Foreign load arithmetic and reading CPU time from `/proc`."""

from __future__ import annotations

import os

from bench.overhead.load import busy_jiffies, foreign_cores
from bench.overhead.processes import Stat, parse_stat, tree_jiffies, tree_total

PROC_STAT = """cpu  1000 50 300 9000 40 5 7 3 0 0
cpu0 500 25 150 4500 20 2 3 1 0 0
intr 12345
"""


def test_busy_jiffies_count_user_nice_system_irq_softirq_steal() -> None:
    assert busy_jiffies(PROC_STAT) == 1000 + 50 + 300 + 5 + 7 + 3  # not idle 9000, not iowait 40


def test_foreign_cores_is_busy_minus_own_over_wall_time() -> None:
    # 300 busy jiffies in 2 s at 100 ticks/s, 280 of them ours: 0.1 core of someone else's work
    assert foreign_cores(busy=300, own=280, seconds=2.0, ticks=100) == 0.1


def test_foreign_cores_is_never_negative() -> None:
    # per-process accounting can run a tick ahead of /proc/stat
    assert foreign_cores(busy=100, own=103, seconds=1.0, ticks=100) == 0.0
    assert foreign_cores(busy=100, own=0, seconds=0.0, ticks=100) == 0.0


def test_parse_stat_reads_ppid_and_all_four_cpu_fields() -> None:
    text = "4242 (python3 (x) y) S 17 4242 4242 0 -1 4194304 1 0 0 0 120 30 7 3 20 0 1 0 100 0 0"
    assert parse_stat(text) == Stat(ppid=17, jiffies=120 + 30 + 7 + 3)


def test_tree_total_sums_all_descendants_only() -> None:
    table = {
        1: Stat(0, 1000),
        10: Stat(1, 5),  # the root
        11: Stat(10, 7),
        12: Stat(11, 11),  # a grandchild
        20: Stat(1, 500),  # not ours
    }
    assert tree_total(10, table) == 5 + 7 + 11
    assert tree_total(99, table) == 0


def test_tree_jiffies_of_this_process_is_readable() -> None:
    assert tree_jiffies(os.getpid()) >= 0
