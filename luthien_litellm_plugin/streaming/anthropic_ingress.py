"""Anthropic Messages SSE bytes in, normalized chunks out, each remembering its source events.

The policy engine works on LiteLLM `ModelResponseStream` chunks. On `/v1/messages` the
upstream speaks Anthropic SSE, so each event is parsed incrementally and converted with
LiteLLM's own Anthropic stream parser (one event → one chunk). `AnthropicWire` keeps, for the
egress side, which events each chunk came from (by identity: a chunk a policy forwards
unchanged goes out as the exact upstream bytes) and the message framing events.

When no policy reads text (a passthrough, or a policy that decides only tool calls), text
deltas, the bulk of a stream, are not made into chunks: each stays its upstream event
(`ForwardedText`), which the egress sends as it came and the recorder reads the text of.

Usage is reported once, on the `message_delta` chunk, cumulatively (as OpenAI streams report it,
once at the end): `message_start`'s usage is merged into it rather than converted on its own
(LiteLLM's conversion of a usage costs five times that of an event, and it would otherwise be paid
twice per stream, once before the first byte). A stream that ends before `message_delta` has its
`message_start` usage converted only then (`unreported_usage`), for the record.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from litellm.llms.anthropic.chat.handler import ModelResponseIterator
from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.chunks import ChunkTemplate
from luthien_litellm_plugin.errors import UpstreamStreamError
from luthien_litellm_plugin.streaming.anthropic_sse import SSEEvent, SSEParser
from luthien_litellm_plugin.streaming.forwarded import ForwardedText, StreamItem
from luthien_litellm_plugin.types import JSONObject

FRAMING_EVENTS = frozenset({"message_start", "message_delta", "message_stop"})


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """An upstream event with its data already parsed (read-only: shared with the chunk's parser)."""

    event: SSEEvent
    data: JSONObject


class AnthropicWire:
    """What one stream's ingress learned that its egress needs."""

    def __init__(self) -> None:
        self._sources: dict[int, tuple[ModelResponseStream, SourceEvent]] = {}
        self.framing: dict[str, SourceEvent] = {}
        """The upstream's `message_start`, `message_delta` and `message_stop` events, by type."""

    def remember(self, chunk: ModelResponseStream, source: SourceEvent) -> None:
        # The chunk is kept alongside its id so the id cannot be reused while remembered.
        self._sources[id(chunk)] = (chunk, source)
        if source.event.event in FRAMING_EVENTS:
            self.framing[source.event.event] = source

    def source_of(self, chunk: ModelResponseStream) -> SourceEvent | None:
        """The upstream event `chunk` was made from, if it is that very upstream chunk."""
        found = self._sources.pop(id(chunk), None)
        if found is None or found[0] is not chunk:
            return None
        return found[1]


class AnthropicIngress:
    """Turns an upstream of Anthropic SSE bytes (cut anywhere) into normalized chunks."""

    def __init__(self, wire: AnthropicWire, *, text_chunks: bool = True) -> None:
        """`text_chunks=False`: text deltas become `ForwardedText`, not chunks (no policy reads them)."""
        self.wire = wire
        self._text_chunks = text_chunks
        self._parser = SSEParser()
        self._converter = ModelResponseIterator(streaming_response=None, sync_stream=False)
        self._text = ChunkTemplate(self._converter.chunk_parser)
        self._empty = ChunkTemplate(self._converter.chunk_parser)
        self._start_usage: JSONObject | None = None
        self._text_block_open = False

    async def batches(self, upstream: AsyncIterator[bytes]) -> AsyncGenerator[list[StreamItem], None]:
        """One list per upstream read: an item for each event the read completed (reads that
        complete none yield nothing).

        Raises `UpstreamStreamError` for an upstream `error` event, and for a stream that ends
        before `message_stop` (a truncated response must not be served as a complete one).
        """
        try:
            async for item in upstream:
                batch: list[StreamItem] = []
                for event in self._parser.feed(_as_bytes(item)):
                    try:
                        batch.append(self.convert(event))
                    except Exception:
                        if batch:
                            yield batch  # the events before the failing one are served first
                        raise
                if batch:
                    yield batch
            if "message_stop" not in self.wire.framing:
                raise UpstreamStreamError("api_error", "the upstream stream ended before message_stop")
        finally:
            aclose = getattr(upstream, "aclose", None)
            if aclose is not None:
                await aclose()

    def convert(self, event: SSEEvent) -> StreamItem:
        data = event.json()
        if event.event == "error":
            raise UpstreamStreamError.from_anthropic_event(data)
        source = SourceEvent(event, data)
        text = _text_delta(data)
        if text is not None:
            if not self._text_chunks:
                return ForwardedText(source, text, self._forwarded_chunk)
            chunk = self._text.chunk(data, text)
        elif self._is_empty(data):
            chunk = self._empty.chunk(data, "")
        else:
            chunk = self._converter.chunk_parser(self._usage_once(data))
        self.wire.remember(chunk, source)
        return chunk

    def _forwarded_chunk(self, delta: ForwardedText) -> ModelResponseStream:
        """The chunk a forwarded text delta would have been (made only if a policy asks)."""
        source = delta.source
        if not isinstance(source, SourceEvent):
            raise TypeError(f"not an Anthropic event: {type(source).__name__}")
        return self._text.chunk(source.data, delta.text)

    def _is_empty(self, data: JSONObject) -> bool:
        """Whether LiteLLM's parser makes `data` a chunk with nothing in it and keeps no state
        from it: `message_stop`, `ping`, and the start and stop of a text block (the parser's
        block state matters only to tool and thinking blocks, which reset it when they start).
        Keeps track of whether a text block is open.

        Their chunks, like text deltas', come from a `ChunkTemplate`."""
        kind = data.get("type")
        if kind == "content_block_start":
            block = data.get("content_block")
            self._text_block_open = isinstance(block, dict) and block.get("type") == "text"
            return self._text_block_open and isinstance(block, dict) and block.get("text") == ""
        if kind == "content_block_stop":
            was_text, self._text_block_open = self._text_block_open, False
            return was_text
        return kind in ("message_stop", "ping")

    def _usage_once(self, data: JSONObject) -> JSONObject:
        """`data` as LiteLLM's parser should see it: `message_start` without its usage, which
        is kept and merged under `message_delta`'s (the merge LiteLLM itself would make)."""
        kind = data.get("type")
        if kind == "message_start":
            message = data.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            if isinstance(message, dict) and isinstance(usage, dict):
                self._start_usage = usage
                return {**data, "message": {key: value for key, value in message.items() if key != "usage"}}
        elif kind == "message_delta" and self._start_usage is not None:
            usage = data.get("usage")
            merged = {**self._start_usage, **usage} if isinstance(usage, dict) else self._start_usage
            self._start_usage = None
            return {**data, "usage": merged}
        return data

    def unreported_usage(self) -> ModelResponseStream | None:
        """For a stream that ended before `message_delta`: a usage-only chunk with the usage
        `message_start` reported (converted by LiteLLM's parser, as a `message_start` carrying it)."""
        usage, self._start_usage = self._start_usage, None
        if usage is None:
            return None
        return self._converter.chunk_parser({"type": "message_start", "message": {"usage": usage}})


def _text_delta(data: JSONObject) -> str | None:
    """The text of a `text_delta` event (the bulk of most streams), else None."""
    if data.get("type") != "content_block_delta":
        return None
    delta = data.get("delta")
    if not isinstance(delta, dict) or delta.get("type") != "text_delta":
        return None
    text = delta.get("text")
    return text if isinstance(text, str) else None


def _as_bytes(item: object) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    raise TypeError(f"an Anthropic stream item is {type(item).__name__}, expected SSE bytes")
