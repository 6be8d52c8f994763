"""The engine benchmark runs against the current engine API (it measures nothing here, only runs)."""

from __future__ import annotations

from bench import stream_overhead


async def test_every_arm_streams_through_the_engine_on_every_api() -> None:
    results = await stream_overhead.main(chars=300, rounds=1)

    assert set(results) == {"chat", "messages", "responses"}
    for arms in results.values():
        assert set(arms) == {
            "passthrough (forward each chunk)",
            "SimplePolicy, no transform",
            "SimplePolicy, upper-case (all_caps)",
        }
