"""Issue 13's targets: each a bound on one paired measure of the plugin against stock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Measure = Literal["rps", "cpu", "cpu_ex_gc", "ttfc", "p50"]
RATIOS: frozenset[Measure] = frozenset({"rps", "cpu", "cpu_ex_gc"})


@dataclass(frozen=True)
class Target:
    """`measure` of `workload` against stock: a ratio (rps, CPU) or a delta in ms (ttfc, p50)."""

    workload: str
    measure: Measure
    limit: float

    @property
    def at_least(self) -> bool:
        """rps must be at least the limit; everything else at most."""
        return self.measure == "rps"

    def met(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value <= self.limit

    def describe(self) -> str:
        label = {"rps": "rps", "cpu": "CPU/req", "cpu_ex_gc": "CPU/req ex-GC", "ttfc": "TTFC", "p50": "p50"}
        bound = f"×{self.limit:.2f}" if self.measure in RATIOS else f"stock {self.limit:+.0f} ms"
        return f"{self.workload}: {label[self.measure]} {'≥' if self.at_least else '≤'} {bound}"


def issue_13(endpoints: tuple[str, ...] = ("chat", "messages")) -> list[Target]:
    """The targets, on each endpoint."""
    targets: list[Target] = []
    for endpoint in endpoints:
        targets += [
            Target(f"{endpoint} seq50", "ttfc", 1.0),
            Target(f"{endpoint} seq50", "p50", 2.0),
            Target(f"{endpoint} seq50", "cpu", 1.03),
            Target(f"{endpoint} seq50", "cpu_ex_gc", 1.03),
            Target(f"{endpoint} c16x5", "rps", 0.95),
            Target(f"{endpoint} c16x50", "rps", 0.97),
            Target(f"{endpoint} c16-nostream", "rps", 0.98),
        ]
    return targets
