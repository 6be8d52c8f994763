"""Incremental Anthropic SSE parsing and the Anthropic stream validator, on realistic wire bytes."""

from __future__ import annotations

import json
import random

import pytest

from luthien_litellm_plugin.streaming.anthropic_sse import SSEEvent, SSEParser, text_delta_data
from luthien_litellm_plugin.streaming.anthropic_validator import validate_anthropic_stream
from tests.wire import anthropic_sse

STREAM = anthropic_sse(["Hello", " there"], [("toolu_1", "bash", ['{"command"', ': "ls"}'])], thinking_parts=["hmm"])


def parse_in_pieces(data: bytes, size: int) -> tuple[list[SSEEvent], SSEParser]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for start in range(0, len(data), size):
        events.extend(parser.feed(data[start : start + size]))
    return events, parser


@pytest.mark.parametrize("size", [1, 2, 7, 64, 10_000])
def test_events_are_the_same_however_the_bytes_are_cut(size: int) -> None:
    events, parser = parse_in_pieces(STREAM, size)
    assert parser.pending == b""
    assert b"".join(e.raw for e in events) == STREAM  # byte-exact: every byte belongs to one event
    assert [e.event for e in events][:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert events[-1].event == "message_stop"
    assert json.loads(events[0].data)["message"]["id"] == "msg_wire"


def test_several_events_in_one_item_pings_comments_and_crlf() -> None:
    data = (
        b'event: ping\ndata: {"type": "ping"}\n\n'
        b": keepalive\n\n"
        b'event: error\r\ndata: {"type": "error",\r\ndata:  "x": 1}\r\n\r\n'
    )
    events = SSEParser().feed(data)
    assert [e.event for e in events] == ["ping", "error"]
    assert events[1].data == '{"type": "error",\n "x": 1}'
    assert events[1].json() == {"type": "error", "x": 1}


def test_a_well_formed_stream_passes_the_validator() -> None:
    events, _ = parse_in_pieces(STREAM, 100)
    assert validate_anthropic_stream(events) == []


def test_validator_reports_each_broken_rule() -> None:
    events, _ = parse_in_pieces(STREAM, 100)
    kinds = [e.event for e in events]
    without_tool_block = [e for i, e in enumerate(events) if not (9 <= i <= 12)]  # the tool_use block's events
    assert kinds[9] == "content_block_start" and kinds[12] == "content_block_stop"
    assert "stop_reason tool_use but no tool_use block was served" in " ".join(
        validate_anthropic_stream(without_tool_block)
    )
    assert validate_anthropic_stream(events[1:])[0] == "event 0: content_block_start before message_start"
    assert validate_anthropic_stream(events[:-1]) == [f"event {len(events) - 1}: stream ended without message_stop"]
    swapped = events[:1] + events[2:3] + events[1:2] + events[3:]
    assert any("delta for block 0 while open block is None" in v for v in validate_anthropic_stream(swapped))


@pytest.mark.parametrize(
    ("raw", "event", "data"),
    [
        (b'event: a\ndata: {"x": 1}\n\n', "a", '{"x": 1}'),  # how Anthropic writes every event
        (b"event: a\ndata: b\ndata: c\n\n", "a", "b\nc"),  # several data lines are joined
        (b"event:a\ndata:b\n\n", "a", "b"),  # no space after the colon
        (b"event:  a\ndata:  b\n\n", " a", " b"),  # only one space is dropped
        (b"data: b\nevent: a\n\n", "a", "b"),  # fields in any order
        (b"event: a\n: comment\ndata: b\n\n", "a", "b"),
        (b"event: a\r\ndata: b\r\n\r\n", "a", "b"),
        (b"data: b\n\n", "message", "b"),  # SSE's default event name
    ],
)
def test_each_way_of_writing_an_event_gives_its_name_and_data(raw: bytes, event: str, data: str) -> None:
    [parsed] = SSEParser().feed(raw)
    assert (parsed.event, parsed.data, parsed.raw) == (event, data, raw)


def test_a_read_of_many_events_gives_them_all_and_keeps_the_unfinished_one() -> None:
    event = b'event: content_block_delta\ndata: {"type": "content_block_delta"}\n\n'
    parser = SSEParser()
    assert len(parser.feed(event * 500 + event[:20])) == 500
    assert parser.pending == event[:20]
    assert [e.raw for e in parser.feed(event[20:])] == [event]


def text_delta(text: str, index: int = 0) -> str:
    """A text delta's data as Anthropic writes it (compact; `json.dumps` escapes as it does)."""
    delta = {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}
    return json.dumps(delta, separators=(",", ":"), ensure_ascii=False)


TEXTS = ["", "Hello", ' "quoted" ', "back\\slash", "line\nbreak", "tab\t", "ünïcödé ✓", "😀", '"}}', "}}", "\u0000"]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("index", [0, 7, 123])
def test_a_text_delta_decodes_without_json_loads_as_json_loads_would(text: str, index: int) -> None:
    data = text_delta(text, index)
    assert text_delta_data(data) == json.loads(data)
    assert SSEEvent("content_block_delta", data, b"").json() == json.loads(data)


def test_random_texts_with_escapes_decode_as_json_loads_decodes_them() -> None:
    rng = random.Random(13)
    alphabet = 'ab "\\/\n\r\t\b\f\u2028é😀{}[],:'
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 24)))
        data = text_delta(text)
        ascii_data = json.dumps(json.loads(data), separators=(",", ":"))  # non-ASCII as \uXXXX escapes
        for spelling in (data, ascii_data):
            assert text_delta_data(spelling) == json.loads(spelling)


@pytest.mark.parametrize(
    "data",
    [
        '{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}}',  # spaced
        '{"index":0,"type":"content_block_delta","delta":{"type":"text_delta","text":"hi"}}',  # other key order
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi","x":1}}',  # more fields
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}} ',  # trailing space
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"},"x":1}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}',
        '{"type":"content_block_delta","index":-1,"delta":{"type":"text_delta","text":"hi"}}',
        '{"type":"content_block_delta","index":1.0,"delta":{"type":"text_delta","text":"hi"}}',
    ],
)
def test_other_spellings_are_left_to_json_loads(data: str) -> None:
    assert text_delta_data(data) is None
    assert SSEEvent("content_block_delta", data, b"").json() == json.loads(data)


@pytest.mark.parametrize(
    "data",
    [
        '{"type":"content_block_delta","index":01,"delta":{"type":"text_delta","text":"hi"}}',  # leading zero
        '{"type":"content_block_delta","index":²,"delta":{"type":"text_delta","text":"hi"}}',  # not ASCII
        '{"type":"content_block_delta","index":٣,"delta":{"type":"text_delta","text":"hi"}}',
        '{"type":"content_block_delta","index":,"delta":{"type":"text_delta","text":"hi"}}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}',  # cut short
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}}',
    ],
)
def test_what_json_loads_refuses_is_refused(data: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(data)
    with pytest.raises(json.JSONDecodeError):
        SSEEvent("content_block_delta", data, b"").json()


@pytest.mark.parametrize("text", ["unterminated", "bad \\x escape", "raw \n control"])
def test_a_broken_string_raises_what_json_loads_raises(text: str) -> None:
    data = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"' + text
    with pytest.raises(json.JSONDecodeError):
        json.loads(data)
    with pytest.raises(json.JSONDecodeError):
        SSEEvent("content_block_delta", data, b"").json()
