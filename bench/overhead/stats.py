"""Paired comparisons: per-round ratios and deltas against stock, as median with min … max."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """The median of some per-round values, and their min and max."""

    median: float
    low: float
    high: float

    def ratio(self) -> str:
        """`×1.02 (0.99…1.05)`."""
        return f"×{self.median:.3f} ({self.low:.3f}…{self.high:.3f})"

    def delta(self, unit: str = "ms") -> str:
        """`+0.81 ms (+0.40…+1.20)`."""
        return f"{self.median:+.2f} {unit} ({self.low:+.2f}…{self.high:+.2f})"


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("no values")
    return Spread(statistics.median(values), min(values), max(values))


def paired_ratios(arm: Sequence[float], reference: Sequence[float]) -> list[float]:
    """arm / reference, round by round."""
    if len(arm) != len(reference):
        raise ValueError(f"{len(arm)} rounds against {len(reference)}")
    return [a / r for a, r in zip(arm, reference, strict=True)]


def paired_deltas(arm: Sequence[float], reference: Sequence[float]) -> list[float]:
    """arm − reference, round by round."""
    if len(arm) != len(reference):
        raise ValueError(f"{len(arm)} rounds against {len(reference)}")
    return [a - r for a, r in zip(arm, reference, strict=True)]


def williams(n: int) -> list[list[int]]:
    """A Williams design: orders of `n` arms where each arm takes each position, and follows each other
    arm, equally often (n orders for even n, 2n for odd n)."""
    # The first order takes offsets 0, 1, n-1, 2, n-2 …; order r adds r to each (mod n).
    offsets = [0] + [(i + 1) // 2 if i % 2 else n - i // 2 for i in range(1, n)]
    rows = [[(offset + r) % n for offset in offsets] for r in range(n)]
    return rows if n % 2 == 0 else rows + [row[::-1] for row in rows]


def order(arms: Sequence[str], round_number: int) -> list[str]:
    """The order of the arms in a round: a Williams design, so that over rounds each arm runs in each
    position and after each other arm equally often (two arms: A B, B A, A B …)."""
    if not arms:
        return []
    rows = williams(len(arms))
    return [arms[i] for i in rows[round_number % len(rows)]]
