"""Incremental parsing of Anthropic Messages SSE, keeping each event's exact bytes.

On `/v1/messages` the proxy's streaming hook receives raw bytes cut wherever TCP cut them: an
item may hold several events, or part of one. `SSEParser.feed` returns the events completed
so far; each keeps its original bytes so untouched events can be forwarded byte for byte.
"""

from __future__ import annotations

import json
import json.decoder
from collections.abc import Callable
from dataclasses import dataclass

from luthien_litellm_plugin.types import JSONObject

_SEPARATORS = (b"\r\n\r\n", b"\n\n", b"\r\r")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One server-sent event: its `event:` name, joined `data:` lines, and the exact bytes."""

    event: str
    data: str
    raw: bytes

    def json(self) -> JSONObject:
        """The data as a JSON object (Anthropic sends one per event)."""
        value = text_delta_data(self.data)
        if value is not None:
            return value
        value = json.loads(self.data)
        if not isinstance(value, dict):
            raise ValueError(f"SSE event {self.event!r} data is not a JSON object")
        return value


# The string decoder `json.loads` uses (C when available); typeshed does not declare it.
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_TEXT_DELTA_HEAD = '{"type":"content_block_delta","index":'
_TEXT_DELTA_MIDDLE = ',"delta":{"type":"text_delta","text":"'


def text_delta_data(data: str) -> JSONObject | None:
    """A text delta's data as `json.loads` would decode it, when written exactly as Anthropic
    writes it (compact, keys in its order); None for anything else, which `json.loads` decodes.

    Text deltas are the bulk of a stream. Decoding only their text (`scanstring`, the decoder
    `json.loads` itself uses for strings) costs about 40% less than decoding the whole object.
    """
    if not data.startswith(_TEXT_DELTA_HEAD):
        return None
    middle = data.find(_TEXT_DELTA_MIDDLE, len(_TEXT_DELTA_HEAD))
    index = data[len(_TEXT_DELTA_HEAD) : middle]
    # JSON integers: ASCII digits, no leading zero (str.isdigit alone accepts "²" and "٣").
    if middle < 0 or not (index.isascii() and index.isdigit()) or (index[0] == "0" and len(index) > 1):
        return None
    text, end = _scanstring(data, middle + len(_TEXT_DELTA_MIDDLE))
    if data[end:] != "}}":
        return None
    return {"type": "content_block_delta", "index": int(index), "delta": {"type": "text_delta", "text": text}}


class SSEParser:
    """Feed bytes as they arrive; get complete events back. `pending` holds an unfinished one."""

    def __init__(self) -> None:
        self._buffer = b""

    @property
    def pending(self) -> bytes:
        return self._buffer

    def feed(self, data: bytes) -> list[SSEEvent]:
        buffer = self._buffer + data
        # What was buffered held no complete event, so a separator can only end in `data`. Each
        # separator is searched for again only once the events taken have passed it: one scan
        # of the bytes whatever the number of events in them (not one per event).
        search_from = max(0, len(self._buffer) - 3)
        found = [buffer.find(separator, search_from) for separator in _SEPARATORS]
        events: list[SSEEvent] = []
        start = 0
        if found[0] < 0 and found[2] < 0:  # no CR separator (Anthropic's way): only b"\n\n" ends events
            at = found[1]
            while at >= 0:
                event = _parse(buffer[start : at + 2])
                start = at + 2
                if event is not None:
                    events.append(event)
                at = buffer.find(b"\n\n", start)
            self._buffer = buffer[start:]
            return events
        while True:
            end = -1
            for position, (at, separator) in enumerate(zip(found, _SEPARATORS, strict=True)):
                if 0 <= at < start:
                    at = found[position] = buffer.find(separator, start)
                if at >= 0 and (end < 0 or at + len(separator) < end):
                    end = at + len(separator)
            if end < 0:
                break
            event = _parse(buffer[start:end])
            start = end
            if event is not None:
                events.append(event)
        self._buffer = buffer[start:]
        return events


def _parse(raw: bytes) -> SSEEvent | None:
    """An event from its bytes; None for a block holding only comments (`: ping` keepalives)."""
    text = raw.decode("utf-8")
    if text.startswith("event: ") and "\r" not in text:  # how Anthropic writes every event
        name_end = text.find("\n")
        if text.startswith("data: ", name_end + 1) and text.find("\n", name_end + 1) == len(text) - 2:
            return SSEEvent(text[7:name_end], text[name_end + 7 : -2], raw)
    name = "message"
    data: list[str] = []
    for line in text.splitlines():
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if not data and name == "message":
        return None
    return SSEEvent(name, "\n".join(data), raw)
