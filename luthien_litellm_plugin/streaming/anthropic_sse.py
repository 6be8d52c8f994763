"""Incremental parsing of Anthropic Messages SSE, keeping each event's exact bytes.

On `/v1/messages` the proxy's streaming hook receives raw bytes cut wherever TCP cut them: an
item may hold several events, or part of one. `SSEParser.feed` returns the events completed
so far; each keeps its original bytes so untouched events can be forwarded byte for byte.
"""

from __future__ import annotations

import json
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
        value = json.loads(self.data)
        if not isinstance(value, dict):
            raise ValueError(f"SSE event {self.event!r} data is not a JSON object")
        return value


class SSEParser:
    """Feed bytes as they arrive; get complete events back. `pending` holds an unfinished one."""

    def __init__(self) -> None:
        self._buffer = b""

    @property
    def pending(self) -> bytes:
        return self._buffer

    def feed(self, data: bytes) -> list[SSEEvent]:
        self._buffer += data
        events: list[SSEEvent] = []
        while True:
            end = _event_end(self._buffer)
            if end is None:
                return events
            raw, self._buffer = self._buffer[:end], self._buffer[end:]
            event = _parse(raw)
            if event is not None:
                events.append(event)


def _event_end(buffer: bytes) -> int | None:
    """Index just past the first complete event's blank-line separator, if any."""
    ends = [position + len(separator) for separator in _SEPARATORS if (position := buffer.find(separator)) >= 0]
    return min(ends) if ends else None


def _parse(raw: bytes) -> SSEEvent | None:
    """An event from its bytes; None for a block holding only comments (`: ping` keepalives)."""
    name = "message"
    data: list[str] = []
    for line in raw.decode("utf-8").splitlines():
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
