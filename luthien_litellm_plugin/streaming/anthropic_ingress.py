"""Anthropic Messages SSE bytes in, normalized chunks out, each remembering its source events.

The policy engine works on LiteLLM `ModelResponseStream` chunks. On `/v1/messages` the
upstream speaks Anthropic SSE, so each event is parsed incrementally and converted with
LiteLLM's own Anthropic stream parser (one event → one chunk). `AnthropicWire` keeps, for the
egress side, which events each chunk came from (by identity: a chunk a policy forwards
unchanged goes out as the exact upstream bytes) and the message framing events.

When no policy reads the stream (a passthrough), text deltas, the bulk of a stream, are not
made into chunks at all: each stays its upstream event (`ForwardedText`), which the egress sends
as it came and the recorder reads the text of.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from litellm.llms.anthropic.chat.handler import ModelResponseIterator
from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.chunks import with_text
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
        self.framing: dict[str, SSEEvent] = {}
        """The upstream's `message_start`, `message_delta` and `message_stop` events, by type."""

    def remember(self, chunk: ModelResponseStream, source: SourceEvent) -> None:
        # The chunk is kept alongside its id so the id cannot be reused while remembered.
        self._sources[id(chunk)] = (chunk, source)
        if source.event.event in FRAMING_EVENTS:
            self.framing[source.event.event] = source.event

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
        self._text_template: ModelResponseStream | None = None

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
        text = _text_delta(data)
        if text is not None and not self._text_chunks:
            return ForwardedText(SourceEvent(event, data), text)
        if text is not None and self._text_template is not None:
            chunk = with_text(self._text_template, text)
        else:
            chunk = self._converter.chunk_parser(data)
            if text is not None:
                self._text_template = chunk
        self.wire.remember(chunk, SourceEvent(event, data))
        return chunk


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
