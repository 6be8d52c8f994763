"""Checks a served chat-completions stream against the egress invariants (role first, one finish
last, tool calls well-formed and numbered)."""

from __future__ import annotations

from collections.abc import Iterable

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.chunks import (
    delta_of,
    field_of,
    finish_reason_of,
    has_payload,
    tool_call_deltas_of,
    tool_calls_of,
    usage_of,
)


class EgressValidator:
    """Feed every served chunk to `check`, then call `finish`; violations accumulate as text."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self._position = 0
        self._finish_reason: str | None = None
        self._ids_by_index: dict[int, str] = {}
        self._function_call_served = False

    def check(self, chunk: ModelResponseStream) -> None:
        position = self._position
        self._position += 1
        if _is_usage_only(chunk):
            if self._finish_reason is None:
                self._violate(position, "usage-only chunk before finish_reason")
            return
        if len(chunk.choices) != 1:
            self._violate(position, f"{len(chunk.choices)} choices in one chunk")
        choice = chunk.choices[0]
        delta = delta_of(choice)
        if position == 0 and not field_of(delta, "role"):
            self._violate(position, "first chunk has no role")
        if self._finish_reason is not None:
            self._violate(position, "chunk with choices after finish_reason")
        if finish_reason_of(choice) is not None:
            if has_payload(delta):
                self._violate(position, "finish_reason in a chunk that also carries content or tool calls")
            self._finish_reason = finish_reason_of(choice)
        if tool_calls_of(delta) or field_of(delta, "function_call") is not None:
            for call in tool_call_deltas_of(delta):
                if call.type == "function_call":
                    self._function_call_served = True
                else:
                    self._check_tool_call(position, call.index, call.id, call.name)

    def finish(self) -> list[str]:
        if self._finish_reason is None:
            self._violate(self._position, "stream ended without finish_reason")
        elif self._finish_reason == "tool_calls" and not self._ids_by_index:
            self._violate(self._position, "finish_reason 'tool_calls' but no tool call was served")
        elif self._finish_reason == "function_call" and not self._function_call_served:
            self._violate(self._position, "finish_reason 'function_call' but no function_call was served")
        return self.violations

    def _check_tool_call(self, position: int, index: int, call_id: str | None, name: str | None) -> None:
        known = self._ids_by_index.get(index)
        if known is None:
            if index != len(self._ids_by_index):
                self._violate(position, f"tool call index {index} out of order (expected {len(self._ids_by_index)})")
            if not call_id or not name:
                self._violate(position, f"first delta of tool call {index} lacks id or name")
            if call_id in self._ids_by_index.values():
                self._violate(position, f"tool call id {call_id} reused at index {index}")
            self._ids_by_index[index] = call_id or f"<missing {index}>"
        elif call_id is not None and call_id != known:
            self._violate(position, f"tool call index {index} changed id from {known} to {call_id}")

    def _violate(self, position: int, what: str) -> None:
        self.violations.append(f"chunk {position}: {what}")


def _is_usage_only(chunk: ModelResponseStream) -> bool:
    """No choices, or (LiteLLM's shape) usage beside one empty, unfinished choice."""
    if not chunk.choices:
        return True
    choice = chunk.choices[0]
    return (
        usage_of(chunk) is not None
        and len(chunk.choices) == 1
        and finish_reason_of(choice) is None
        and not has_payload(delta_of(choice))
    )


def validate_stream(chunks: Iterable[ModelResponseStream]) -> list[str]:
    """All invariant violations in a complete served stream (empty list when well-formed)."""
    validator = EgressValidator()
    for chunk in chunks:
        validator.check(chunk)
    return validator.finish()
