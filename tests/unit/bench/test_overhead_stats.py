"""The benchmark's pure arithmetic: paired ratios, spreads, the order of arms in a round."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.overhead.stats import Spread, order, paired_deltas, paired_ratios, spread, williams


def test_paired_ratios_divide_round_by_round() -> None:
    assert paired_ratios([10.0, 12.0, 9.0], [10.0, 10.0, 10.0]) == [1.0, 1.2, 0.9]


def test_paired_deltas_subtract_round_by_round() -> None:
    assert paired_deltas([5.5, 4.0], [5.0, 5.0]) == [0.5, -1.0]


def test_pairs_need_as_many_rounds() -> None:
    with pytest.raises(ValueError):
        paired_ratios([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        paired_deltas([1.0], [])


def test_spread_is_median_with_min_and_max() -> None:
    assert spread([1.10, 0.95, 1.02, 1.30, 1.01]) == Spread(1.02, 0.95, 1.30)
    assert spread([1.0, 3.0]) == Spread(2.0, 1.0, 3.0)


def test_spread_of_nothing_fails() -> None:
    with pytest.raises(ValueError):
        spread([])


def test_spread_formats_ratios_and_deltas() -> None:
    assert Spread(1.0234, 0.99, 1.05).ratio() == "×1.023 (0.990…1.050)"
    assert Spread(0.81, -0.4, 1.2).delta() == "+0.81 ms (-0.40…+1.20)"


def test_two_arms_alternate() -> None:
    assert [order(["a", "b"], r) for r in range(4)] == [["a", "b"], ["b", "a"], ["a", "b"], ["b", "a"]]


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_williams_design_is_balanced(n: int) -> None:
    rows = williams(n)
    for row in rows:
        assert sorted(row) == list(range(n))
    for position in range(n):  # each arm in each position equally often
        assert set(Counter(row[position] for row in rows).values()) == {len(rows) // n}
    follows = Counter((row[i], row[i + 1]) for row in rows for i in range(n - 1))
    assert len(follows) == n * (n - 1) and len(set(follows.values())) == 1  # each arm after each other alike


def test_order_maps_names_and_wraps() -> None:
    arms = ["stock", "stock A/A", "plugin", "baseline"]
    assert order(arms, 0) == ["stock", "stock A/A", "baseline", "plugin"]
    assert order(arms, 4) == order(arms, 0)
    assert order([], 3) == []
