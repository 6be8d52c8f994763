"""What each e2e policy (conftest's `POLICIES`) makes of each fake scenario: the text and the tool calls the
client must get. Shared by the `/v1/messages` and `/v1/responses` tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from tests.fakes.scenarios import BASH, LEAD_IN, TEXT, TIME, WEATHER, ToolCall

POLICIES = ["passthrough", "all_caps", "block_tools", "string_replacement"]
UPSTREAM_TEXT = {"text": TEXT, "thinking": TEXT, "tool_calls": LEAD_IN, "tool_only": "", "parallel_tool_calls": LEAD_IN}
UPSTREAM_CALLS: dict[str, tuple[ToolCall, ...]] = {
    "text": (),
    "thinking": (),
    "tool_calls": (WEATHER,),
    "tool_only": (WEATHER, BASH),
    "parallel_tool_calls": (WEATHER, BASH, TIME),
}
TEXT_POLICIES: dict[str, Callable[[str], str]] = {
    "passthrough": lambda text: text,
    "all_caps": str.upper,
    "block_tools": lambda text: text,
    "string_replacement": lambda text: text.replace("fake", "real").replace("check", "verify"),
}


@dataclass(frozen=True)
class Outcome:
    """The served text and calls. With `blocked_notice`, `text` is followed by a notice naming bash."""

    text: str
    calls: list[tuple[str, dict[str, object]]]
    blocked_notice: bool


def outcome(policy: str, scenario: str) -> Outcome:
    calls = list(UPSTREAM_CALLS[scenario])
    blocked = policy == "block_tools" and BASH in calls
    if policy == "block_tools":
        calls = [call for call in calls if call.name != BASH.name]
    return Outcome(
        text=TEXT_POLICIES[policy](UPSTREAM_TEXT[scenario]),
        calls=[(call.name, json.loads(call.arguments)) for call in calls],
        blocked_notice=blocked,
    )


def assert_text(text: str, want: Outcome) -> None:
    if want.blocked_notice:
        assert text.startswith(want.text) and "bash" in text[len(want.text) :], text
    else:
        assert text == want.text
