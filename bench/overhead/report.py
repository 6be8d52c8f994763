"""From blocks to a summary: medians, paired ratios against stock, target verdicts, markdown, JSON."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from bench.overhead.arms import AA, PLUGIN, STOCK, Arm
from bench.overhead.runner import Block
from bench.overhead.stats import Spread, paired_deltas, paired_ratios, spread
from bench.overhead.targets import RATIOS, Measure, Target
from bench.overhead.workloads import Sample

FIELDS: dict[Measure, str] = {
    "rps": "rps",
    "cpu": "cpu_ms",
    "cpu_ex_gc": "cpu_ex_gc_ms",
    "ttfc": "ttfc_p50_ms",
    "p50": "p50_ms",
}

PAIRED_RATIOS: tuple[Measure, ...] = ("rps", "cpu", "cpu_ex_gc")
PAIRED_DELTAS: tuple[Measure, ...] = ("ttfc", "p50")


@dataclass(frozen=True)
class ArmSummary:
    """One arm on one workload: medians over rounds; against its stock arm, per-round paired values."""

    rounds: int
    rps: float
    p50_ms: float
    ttfc_p50_ms: float | None
    cpu_ms: float
    cpu_ex_gc_ms: float
    gc2: int  # gen-2 collections, all rounds together
    judge_p50_ms: float | None
    against: str | None  # the stock arm of the paired values (None: this is a stock reference)
    paired: dict[str, Spread]  # rps, cpu, cpu_ex_gc: ratios; ttfc, p50: deltas in ms
    young_gc_per_request: float = 0.0  # gen-0 and gen-1 collections per request (median of rounds)
    young_gc_ms_per_request: float = 0.0  # their CPU per request


def median_of(samples: Sequence[Sample], name: str) -> float | None:
    values = [getattr(s, name) for s in samples if getattr(s, name) is not None]
    return statistics.median(values) if values else None


def summarize_arm(arm: Arm, blocks: Sequence[Block]) -> ArmSummary:
    """`arm` over the workload's `blocks`, paired with its stock arm when it is not one itself."""
    samples = [b.samples[arm.name] for b in blocks]
    paired: dict[str, Spread] = {}
    against = None if arm.name == arm.reference else arm.reference
    if against is not None:
        reference = [b.samples[against] for b in blocks]
        for measure in PAIRED_RATIOS:
            field = FIELDS[measure]
            paired[measure] = spread(
                paired_ratios([getattr(s, field) for s in samples], [getattr(s, field) for s in reference])
            )
        for measure in PAIRED_DELTAS:
            field = FIELDS[measure]
            mine = [getattr(s, field) for s in samples]
            theirs = [getattr(s, field) for s in reference]
            if None not in mine and None not in theirs:
                paired[measure] = spread(paired_deltas(mine, theirs))
    return ArmSummary(
        rounds=len(samples),
        rps=statistics.median(s.rps for s in samples),
        p50_ms=statistics.median(s.p50_ms for s in samples),
        ttfc_p50_ms=median_of(samples, "ttfc_p50_ms"),
        cpu_ms=statistics.median(s.cpu_ms for s in samples),
        cpu_ex_gc_ms=statistics.median(s.cpu_ex_gc_ms for s in samples),
        gc2=sum(s.gc2 for s in samples),
        young_gc_per_request=statistics.median(s.young_gc / s.requests for s in samples),
        young_gc_ms_per_request=statistics.median(s.young_gc_ms / s.requests for s in samples),
        judge_p50_ms=median_of(samples, "judge_p50_ms"),
        against=against,
        paired=paired,
    )


def summarize(blocks: Sequence[Block], arms: Sequence[Arm]) -> dict[str, dict[str, ArmSummary]]:
    """Per workload (in run order), per arm that took part."""
    summary: dict[str, dict[str, ArmSummary]] = {}
    for workload in dict.fromkeys(b.workload for b in blocks):
        mine = [b for b in blocks if b.workload == workload]
        summary[workload] = {a.name: summarize_arm(a, mine) for a in arms if a.name in mine[0].samples}
    return summary


@dataclass(frozen=True)
class Verdict:
    target: Target
    arm: str
    value: float | None  # the median paired value (None: not measured)

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.target.met(self.value)

    def cell(self) -> str:
        if self.value is None:
            return "—"
        shown = f"×{self.value:.3f}" if self.target.measure in RATIOS else f"{self.value:+.2f} ms"
        return f"{shown} {'✅' if self.met else '❌'}"


def verdicts(summary: dict[str, dict[str, ArmSummary]], targets: Sequence[Target], arm: str) -> list[Verdict]:
    """Each target against the median of `arm`'s paired values."""
    result: list[Verdict] = []
    for target in targets:
        found = summary.get(target.workload, {}).get(arm)
        spread_ = found.paired.get(target.measure) if found is not None else None
        result.append(Verdict(target, arm, spread_.median if spread_ is not None else None))
    return result


def judged_arms(arms: Sequence[Arm]) -> list[str]:
    """The arms the target table shows: the plugin, the baseline, and the A/A noise floor."""
    return [a.name for a in arms if a.name in (PLUGIN, AA) or a.name.startswith("baseline")]


def markdown(summary: dict[str, dict[str, ArmSummary]], targets: Sequence[Target], arms: Sequence[Arm]) -> str:
    """The README tables: every arm on every workload, then the targets."""
    lines = [
        "| workload | arm | req/s | CPU ms/req | ex-GC | gen-2 GCs | gen-0/1 GC ms/req (per req) | req/s ×stock "
        "| CPU ×stock | CPU ex-GC ×stock | TTFC | p50 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for workload, per_arm in summary.items():
        for index, (name, s) in enumerate(per_arm.items()):
            first = workload if index == 0 else ""
            ratios = [s.paired[m].ratio() if m in s.paired else "" for m in ("rps", "cpu", "cpu_ex_gc")]
            if s.against is None:
                ttfc = f"{s.ttfc_p50_ms:.2f} ms" if s.ttfc_p50_ms is not None else ""
                p50 = f"{s.p50_ms:.2f} ms"
            else:
                ttfc = s.paired["ttfc"].delta() if "ttfc" in s.paired else ""
                p50 = s.paired["p50"].delta() if "p50" in s.paired else ""
            lines.append(
                f"| {first} | {name} | {s.rps:.1f} | {s.cpu_ms:.2f} | {s.cpu_ex_gc_ms:.2f} | {s.gc2} | "
                f"{s.young_gc_ms_per_request:.3f} ({s.young_gc_per_request:.2f}) | "
                f"{' | '.join(ratios)} | {ttfc} | {p50} |"
            )
    shown = judged_arms(arms)
    if shown and targets:
        lines += ["", f"| issue 13 target (median of paired rounds) | {' | '.join(shown)} |"]
        lines.append("|---|" + "---|" * len(shown))
        table = {name: verdicts(summary, targets, name) for name in shown}
        for index, target in enumerate(targets):
            lines.append(f"| {target.describe()} | {' | '.join(table[n][index].cell() for n in shown)} |")
    return "\n".join(lines)


def kind_of_day(summary: dict[str, dict[str, ArmSummary]]) -> str | None:
    """Stock's CPU per 50-chunk stream (32 ms on a normal day, 77 on a slow one)."""
    for workload in ("chat c16x50", "chat seq50", "messages c16x50", "messages seq50"):
        stock = summary.get(workload, {}).get(STOCK)
        if stock is not None:
            return (
                f"Stock's CPU per 50-chunk stream ({workload}): {stock.cpu_ms:.1f} ms, "
                f"{stock.cpu_ex_gc_ms:.1f} ms ex-GC (a normal day: 32 ms, a slow one: 77)."
            )
    return None


def judge(summary: dict[str, dict[str, ArmSummary]]) -> list[str]:
    """For judge arms: the added p50 next to the judge call's own p50 (from the recorded verdicts)."""
    lines: list[str] = []
    for workload, per_arm in summary.items():
        for name, s in per_arm.items():
            if s.judge_p50_ms is not None and "p50" in s.paired:
                added = s.paired["p50"].median
                lines.append(
                    f"{name}, {workload}: added p50 {added:+.2f} ms, the judge call's own p50 {s.judge_p50_ms:.2f} ms, "
                    f"beyond it {added - s.judge_p50_ms:+.2f} ms"
                )
    return lines


def foreign(blocks: Sequence[Block], limit: float) -> str:
    """Which rounds other tenants disturbed."""
    again = sum(b.remeasured for b in blocks)
    flagged = [f"r{b.round + 1} {b.workload} ({b.foreign_cores:.2f})" for b in blocks if b.flagged]
    worst = max((b.foreign_cores for b in blocks), default=0.0)
    text = f"Foreign load: worst {worst:.2f} cores per round; {again} round(s) measured again (> {limit:.2f} cores)"
    return text + (f"; still disturbed: {', '.join(flagged)}." if flagged else "; none left disturbed.")


def to_json(
    settings: dict[str, object],
    blocks: Sequence[Block],
    summary: dict[str, dict[str, ArmSummary]],
    targets: Sequence[Target],
    arms: Sequence[Arm],
) -> dict[str, object]:
    return {
        "settings": settings,
        "summary": {w: {a: asdict(s) for a, s in per.items()} for w, per in summary.items()},
        "targets": {
            name: [
                {"target": v.target.describe(), "value": v.value, "met": v.met}
                for v in verdicts(summary, targets, name)
            ]
            for name in judged_arms(arms)
        },
        "blocks": [asdict(b) for b in blocks],
    }
