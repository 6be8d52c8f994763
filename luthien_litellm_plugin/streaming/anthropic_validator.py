"""Checks a served Anthropic Messages stream against the protocol's wire rules."""

from __future__ import annotations

from collections.abc import Iterable

from luthien_litellm_plugin.streaming.anthropic_sse import SSEEvent
from luthien_litellm_plugin.types import JSONObject


class AnthropicStreamValidator:
    """Feed every served event to `check`, then call `finish`; violations accumulate as text.

    Rules: `message_start` first; each block opened by `content_block_start` and closed by
    `content_block_stop`, indices 0, 1, 2… with no gaps, deltas only inside their open block;
    all blocks before `message_delta`; `message_stop` last; `stop_reason` `tool_use` only if a
    `tool_use` block was served. `ping` may come anywhere; an `error` event ends the stream.
    """

    def __init__(self) -> None:
        self.violations: list[str] = []
        self._position = 0
        self._started = False
        self._open: int | None = None
        self._next_index = 0
        self._block_types: list[str] = []
        self._delta_seen = False
        self._stopped = False

    def check(self, event: SSEEvent, data: JSONObject | None = None) -> None:
        """Check the next served event (`data`: its JSON, when the caller already parsed it)."""
        position, self._position = self._position, self._position + 1
        kind = event.event
        if kind == "content_block_delta" and self._started and not self._stopped:  # the bulk of a stream
            self._on_content_block_delta(position, event.json() if data is None else data)
            return
        if self._stopped:
            self._violate(position, f"{kind} after message_stop")
        if kind in ("ping", "error"):
            self._stopped = self._stopped or kind == "error"
            return
        if not self._started and kind != "message_start":
            self._violate(position, f"{kind} before message_start")
        if data is None:
            data = event.json()
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            self._violate(position, f"unknown event type {kind}")
        else:
            handler(position, data)

    def finish(self) -> list[str]:
        if not self._stopped:
            self._violate(self._position, "stream ended without message_stop")
        return self.violations

    def _on_message_start(self, position: int, data: JSONObject) -> None:
        if self._started:
            self._violate(position, "second message_start")
        self._started = True

    def _on_content_block_start(self, position: int, data: JSONObject) -> None:
        index = data.get("index")
        if self._open is not None:
            self._violate(position, f"block {index} started while block {self._open} is open")
        if self._delta_seen:
            self._violate(position, "content block after message_delta")
        if index != self._next_index:
            self._violate(position, f"block index {index}, expected {self._next_index}")
        block = data.get("content_block")
        self._block_types.append(str(block.get("type")) if isinstance(block, dict) else "?")
        self._open = index if isinstance(index, int) else None
        self._next_index += 1

    def _on_content_block_delta(self, position: int, data: JSONObject) -> None:
        if data.get("index") != self._open:
            self._violate(position, f"delta for block {data.get('index')} while open block is {self._open}")

    def _on_content_block_stop(self, position: int, data: JSONObject) -> None:
        if data.get("index") != self._open:
            self._violate(position, f"stop for block {data.get('index')} while open block is {self._open}")
        self._open = None

    def _on_message_delta(self, position: int, data: JSONObject) -> None:
        if self._open is not None:
            self._violate(position, f"message_delta while block {self._open} is open")
        delta = data.get("delta")
        reason = delta.get("stop_reason") if isinstance(delta, dict) else None
        if reason == "tool_use" and "tool_use" not in self._block_types:
            self._violate(position, "stop_reason tool_use but no tool_use block was served")
        self._delta_seen = True

    def _on_message_stop(self, position: int, data: JSONObject) -> None:
        if not self._delta_seen:
            self._violate(position, "message_stop without message_delta")
        self._stopped = True

    def _violate(self, position: int, what: str) -> None:
        self.violations.append(f"event {position}: {what}")


def validate_anthropic_stream(events: Iterable[SSEEvent]) -> list[str]:
    validator = AnthropicStreamValidator()
    for event in events:
        validator.check(event)
    return validator.finish()
