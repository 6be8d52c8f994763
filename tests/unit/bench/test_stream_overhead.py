"""The engine benchmark runs against the current engine API (it measures nothing here, only runs)."""

from __future__ import annotations

from bench import stream_overhead


async def test_every_arm_streams_through_the_engine_on_every_api() -> None:
    results = await stream_overhead.main(chars=300, rounds=1)

    arms = {
        "passthrough (forward each chunk)",
        "SimplePolicy, no transform",
        "SimplePolicy, upper-case (all_caps)",
        "block_tools (decides tool calls only)",
    }
    assert set(results) == {"chat", "messages", "responses", "short"}
    for api in ("chat", "messages", "responses"):
        assert set(results[api]) == arms
    assert set(results["short"]) == {f"{api} {arm}" for api in ("chat", "messages", "responses") for arm in arms}
    assert all(us > 0 for us in results["short"].values())
