"""The judging helpers: reading JSON from a model's answer, the TTL cache, describing failures."""

from __future__ import annotations

import pytest

from luthien_litellm_plugin.policies.judging import (
    JudgeAnswerError,
    TTLCache,
    cache_key,
    describe_failure,
    parse_json_object,
)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('Here: {"a": {"b": "}"}} and more {"c": 2}', {"a": {"b": "}"}}),
        ('[1, 2] then {broken then {"a": 1}', {"a": 1}),
    ],
)
def test_the_first_json_object_in_an_answer(answer: str, expected: dict[str, object]) -> None:
    assert parse_json_object(answer) == expected


@pytest.mark.parametrize("answer", ["", "no json", "[1, 2]", '{"unterminated": '])
def test_an_answer_without_a_json_object(answer: str) -> None:
    with pytest.raises(JudgeAnswerError, match="no JSON object"):
        parse_json_object(answer)


def test_the_cache_forgets_after_its_ttl_and_keeps_at_most_size_entries() -> None:
    now = [100.0]
    cache: TTLCache[str] = TTLCache(ttl=10, size=2, clock=lambda: now[0])
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # now the most recently used
    cache.put("c", "C")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")
    now[0] += 10
    assert cache.get("a") is None and cache.get("c") is None


def test_a_zero_ttl_cache_stores_nothing() -> None:
    cache: TTLCache[str] = TTLCache(ttl=0)
    cache.put("a", "A")
    assert cache.get("a") is None


def test_cache_keys_do_not_collide_across_part_boundaries() -> None:
    assert cache_key("ab", "c") != cache_key("a", "bc")
    assert len(cache_key("x" * 100_000)) == 64


def test_failures_are_described_in_a_few_words() -> None:
    assert describe_failure(TimeoutError(), 2.5) == "the judge did not answer within 2.5s"
    assert describe_failure(JudgeAnswerError("nope"), 1) == "unusable judge answer: nope"
    long = describe_failure(RuntimeError("x" * 1000), 1)
    assert long.startswith("the judge call failed: RuntimeError: x") and len(long) < 300
