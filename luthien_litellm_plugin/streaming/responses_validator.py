"""Checks a served OpenAI Responses stream against the protocol's wire rules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from luthien_litellm_plugin.streaming import responses_events as ev
from luthien_litellm_plugin.streaming.responses_events import ResponsesEvent, int_field, kind_of, plain, str_field
from luthien_litellm_plugin.types import JSONObject, JSONValue

_ITEM_SCOPED_CHECKS = frozenset(
    {ev.PART_ADDED, ev.PART_DONE, ev.TEXT_DELTA, ev.TEXT_DONE, ev.ARGUMENTS_DELTA, ev.ARGUMENTS_DONE, ev.ITEM_DONE}
)
_ENDINGS = frozenset({ev.COMPLETED, ev.INCOMPLETE, ev.FAILED, ev.ERROR})


@dataclass
class _Part:
    kind: str
    text: list[str] = field(default_factory=list)
    done: bool = False


@dataclass
class _Item:
    kind: str
    item_id: str | None
    parts: list[_Part] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)
    final: JSONObject | None = None
    """The item as its `response.output_item.done` event served it."""


class ResponsesStreamValidator:
    """Feed every served event to `check`, then call `finish`; violations accumulate as text.

    Rules: `response.created` first; `sequence_number` 0, 1, 2… with no gaps; output items
    announced with `output_index` 0, 1, 2… in order, every item event naming an announced item
    that is not done yet (items may be open at the same time), content parts numbered 0, 1, 2…
    within their item; each `*.done` event (text, arguments, part, item) agreeing with the deltas
    served before it; `response.completed` (or `.incomplete`) last, once every item is done,
    with the usage, the matching status, and an `output` listing exactly the served items as
    they were completed. A `response.failed` or `error` event also ends the stream.
    """

    def __init__(self) -> None:
        self.violations: list[str] = []
        self._position = 0
        self._ended = False
        self._items: list[_Item] = []

    def check(self, event: ResponsesEvent) -> None:
        position, self._position = self._position, self._position + 1
        kind = kind_of(event)
        sequence = int_field(event, "sequence_number")
        if sequence != position:
            self._violate(position, f"{kind} has sequence_number {sequence}, expected {position}")
        if self._ended:
            self._violate(position, f"{kind} after the stream ended")
        if position == 0 and kind != ev.CREATED:
            self._violate(position, f"{kind} before response.created")
        if kind in _ENDINGS:
            self._ended = True
        if kind == ev.ITEM_ADDED:
            self._on_item_added(position, event)
        elif kind in ev.TERMINAL_EVENTS:
            self._on_terminal(position, kind, event)
        elif kind == ev.FAILED:
            self._on_failed(position, event)
        elif kind in _ITEM_SCOPED_CHECKS or int_field(event, "output_index") is not None:
            item = self._open_item(position, kind, event)
            if item is not None:
                self._on_item_event(position, kind, event, item)

    def finish(self) -> list[str]:
        if not self._ended:
            self._violate(self._position, "stream ended without response.completed")
        return self.violations

    # ----- items -----

    def _on_item_added(self, position: int, event: ResponsesEvent) -> None:
        index = int_field(event, "output_index")
        if index != len(self._items):
            self._violate(position, f"output item added at output_index {index}, expected {len(self._items)}")
        item = plain(event.get("item"))
        fields = item if isinstance(item, dict) else {}
        self._items.append(_Item(str(fields.get("type")), str_field(fields, "id")))

    def _open_item(self, position: int, kind: str, event: ResponsesEvent) -> _Item | None:
        index = int_field(event, "output_index")
        if index is None or not 0 <= index < len(self._items):
            self._violate(position, f"{kind} for output_index {index}, which was not added")
            return None
        item = self._items[index]
        if item.final is not None:
            self._violate(position, f"{kind} for output_index {index} after its item was done")
            return None
        item_id = str_field(event, "item_id")
        if item_id is not None and item_id != item.item_id:
            self._violate(position, f"{kind} names item {item_id}, output_index {index} is {item.item_id}")
        return item

    def _on_item_event(self, position: int, kind: str, event: ResponsesEvent, item: _Item) -> None:
        if kind == ev.PART_ADDED:
            content_index, expected = int_field(event, "content_index"), len(item.parts)
            if content_index != expected:
                self._violate(position, f"content part added at content_index {content_index}, expected {expected}")
            announced = plain(event.get("part"))
            item.parts.append(_Part(str(announced.get("type")) if isinstance(announced, dict) else "?"))
        elif kind in (ev.TEXT_DELTA, ev.TEXT_DONE, ev.PART_DONE):
            part = self._open_part(position, kind, event, item)
            if part is not None:
                self._on_part_event(position, kind, event, part)
        elif kind == ev.ARGUMENTS_DELTA:
            item.arguments.append(str(event.get("delta") or ""))
        elif kind == ev.ARGUMENTS_DONE:
            if event.get("arguments") != "".join(item.arguments):
                self._violate(position, "function_call_arguments.done disagrees with the argument deltas")
        elif kind == ev.ITEM_DONE:
            self._on_item_done(position, event, item)

    def _open_part(self, position: int, kind: str, event: ResponsesEvent, item: _Item) -> _Part | None:
        content_index = int_field(event, "content_index")
        if content_index is None or not 0 <= content_index < len(item.parts):
            self._violate(position, f"{kind} for content_index {content_index}, which was not added")
            return None
        part = item.parts[content_index]
        if part.done:
            self._violate(position, f"{kind} for content_index {content_index} after its part was done")
            return None
        return part

    def _on_part_event(self, position: int, kind: str, event: ResponsesEvent, part: _Part) -> None:
        if kind == ev.TEXT_DELTA:
            part.text.append(str(event.get("delta") or ""))
        elif kind == ev.TEXT_DONE:
            if event.get("text") != "".join(part.text):
                self._violate(position, "output_text.done disagrees with the text deltas")
        else:
            served = plain(event.get("part"))
            text = served.get("text") if isinstance(served, dict) else None
            if part.kind == "output_text" and text != "".join(part.text):
                self._violate(position, "content_part.done disagrees with the text deltas")
            part.done = True

    def _on_item_done(self, position: int, event: ResponsesEvent, item: _Item) -> None:
        if any(not part.done for part in item.parts):
            self._violate(position, "output item done while a content part is open")
        final = plain(event.get("item"))
        item.final = final if isinstance(final, dict) else {}
        served = _essentials(item.final)
        texts = ["".join(part.text) for part in item.parts if part.kind == "output_text"]
        if item.kind == "message" and served.get("texts") != texts:
            self._violate(position, "output_item.done text disagrees with the text deltas")
        if item.kind == "function_call" and served.get("arguments") != "".join(item.arguments):
            self._violate(position, "output_item.done arguments disagree with the argument deltas")

    # ----- endings -----

    def _on_terminal(self, position: int, kind: str, event: ResponsesEvent) -> None:
        response = plain(event.get("response"))
        fields = response if isinstance(response, dict) else {}
        status = "completed" if kind == ev.COMPLETED else "incomplete"
        if fields.get("status") != status:
            self._violate(position, f"{kind} with status {fields.get('status')}")
        if kind == ev.INCOMPLETE and not fields.get("incomplete_details"):
            self._violate(position, "response.incomplete without incomplete_details")
        if kind == ev.COMPLETED and not fields.get("usage"):
            self._violate(position, "response.completed without usage")
        if any(item.final is None for item in self._items):
            self._violate(position, f"{kind} while an output item is open")
        output = fields.get("output")
        served = [_essentials(item.final) for item in self._items if item.final is not None]
        listed = [_essentials(value) for value in output] if isinstance(output, list) else None
        if listed != served:
            self._violate(position, f"{kind} output {listed} is not what was served: {served}")

    def _on_failed(self, position: int, event: ResponsesEvent) -> None:
        response = plain(event.get("response"))
        fields = response if isinstance(response, dict) else {}
        if fields.get("status") != "failed" or not fields.get("error"):
            self._violate(position, "response.failed without status failed and an error")

    def _violate(self, position: int, what: str) -> None:
        self.violations.append(f"event {position}: {what}")


def _essentials(item: JSONValue) -> JSONObject:
    """What identifies an output item and what it says: type, ids, name, texts, arguments."""
    if not isinstance(item, dict):
        return {}
    content = item.get("content")
    texts: list[JSONValue] = [
        part.get("text")
        for part in (content if isinstance(content, list) else [])
        if isinstance(part, dict) and part.get("type") == "output_text"
    ]
    found: JSONObject = {key: item[key] for key in ("type", "id", "call_id", "name", "arguments") if key in item}
    if item.get("type") == "message":
        found["texts"] = texts
    return found


def validate_responses_stream(events: Iterable[ResponsesEvent]) -> list[str]:
    validator = ResponsesStreamValidator()
    for event in events:
        validator.check(event)
    return validator.finish()
