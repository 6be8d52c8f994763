"""A proxy's garbage collections as the benchmark sees them: the gen-2 log and the totals per
generation `site/sitecustomize.py` keeps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.overhead.gclog import ENV, SITE, STATS_ENV, Collections, Generations, parse


def test_gc_log_lines_add_up() -> None:
    assert parse("12 0.004\n12 0.0065\n\n") == Collections(2, pytest.approx(0.0105))
    assert parse("") == Collections(0, 0.0)


def test_generations_since_subtracts_per_generation_and_young_is_gen_0_and_1() -> None:
    later = Generations((10, 3, 1), (0.5, 0.25, 1.0))
    earlier = Generations((4, 1, 1), (0.25, 0.125, 1.0))
    delta = later.since(earlier)
    assert delta == Generations((6, 2, 0), (0.25, 0.125, 0.0))
    assert (delta.young, delta.young_cpu_seconds) == (8, 0.375)


def test_generations_of_a_proxy_that_wrote_none_are_zero(tmp_path: Path) -> None:
    assert Generations.read(tmp_path / "absent.stats") == Generations()


def test_the_site_module_keeps_each_generations_totals_in_the_stats_file(tmp_path: Path) -> None:
    stats, log = tmp_path / "gc.stats", tmp_path / "gc.log"
    env = {**os.environ, "PYTHONPATH": str(SITE), STATS_ENV: str(stats), ENV: str(log)}
    script = "import gc\nfor _ in range(3): gc.collect(0)\nfor _ in range(2): gc.collect(1)\ngc.collect(2)\n"
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    found = Generations.read(stats)
    assert found.counts[0] >= 3 and found.counts[1] >= 2 and found.counts[2] >= 1
    assert sum(found.cpu_seconds) > 0 and min(found.cpu_seconds) >= 0
    assert parse(log.read_text()).count == found.counts[2]  # the gen-2 log still has a line each
