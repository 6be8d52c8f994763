"""Issue 13's targets and the verdicts against the median paired values."""

from __future__ import annotations

from bench.overhead.report import ArmSummary, Verdict, verdicts
from bench.overhead.stats import Spread
from bench.overhead.targets import Target, issue_13


def test_rps_targets_are_lower_bounds_the_rest_upper_bounds() -> None:
    rps = Target("chat c16x50", "rps", 0.97)
    assert rps.met(0.97) and rps.met(1.2) and not rps.met(0.969)
    cpu = Target("chat seq50", "cpu", 1.03)
    assert cpu.met(1.03) and cpu.met(0.9) and not cpu.met(1.031)
    ttfc = Target("chat seq50", "ttfc", 1.0)
    assert ttfc.met(-0.5) and ttfc.met(1.0) and not ttfc.met(1.01)


def test_issue_13_names_each_target_on_each_endpoint() -> None:
    targets = issue_13()
    assert len(targets) == 14
    assert Target("messages c16x5", "rps", 0.95) in targets
    assert Target("chat c16-nostream", "rps", 0.98) in targets
    assert [t.describe() for t in issue_13(("chat",))][:2] == [
        "chat seq50: TTFC ≤ stock +1 ms",
        "chat seq50: p50 ≤ stock +2 ms",
    ]


def summary(paired: dict[str, Spread]) -> ArmSummary:
    return ArmSummary(5, 30.0, 40.0, 12.0, 33.0, 32.0, 2, None, "stock", paired)


def test_verdicts_use_the_median_of_the_paired_rounds() -> None:
    table = {
        "chat seq50": {"plugin": summary({"ttfc": Spread(0.8, 0.2, 1.6), "cpu": Spread(1.05, 1.01, 1.08)})},
        "chat c16x50": {"plugin": summary({"rps": Spread(0.98, 0.90, 1.02)})},
    }
    targets = [
        Target("chat seq50", "ttfc", 1.0),
        Target("chat seq50", "cpu", 1.03),
        Target("chat c16x50", "rps", 0.97),
        Target("messages c16x5", "rps", 0.95),
    ]
    found = verdicts(table, targets, "plugin")
    assert [v.met for v in found] == [True, False, True, None]
    assert [v.cell() for v in found] == ["+0.80 ms ✅", "×1.050 ❌", "×0.980 ✅", "—"]
    assert found[3] == Verdict(targets[3], "plugin", None)
