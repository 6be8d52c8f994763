"""OpenAI Responses stream events in, normalized chunks out, each remembering its source event.

The policy engine works on LiteLLM `ModelResponseStream` chunks. On `/v1/responses` the proxy
hands the hook LiteLLM's parsed event objects; each becomes one chunk through LiteLLM's own
Responses → chat-completions stream parser (text deltas, the bulk of a stream, are copied from
the stream's first one instead). `ResponsesWire` keeps, for the egress, which event each chunk
came from (by identity: a chunk a policy forwards unchanged goes out as that very event) and
the framing events (`response.created` … `response.completed`). When no policy reads text,
text deltas are not made into chunks: each stays its event (`ForwardedText`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass

from litellm.completion_extras.litellm_responses_transformation.transformation import (
    OpenAiResponsesToChatCompletionStreamIterator,
)
from litellm.types.llms.base import BaseLiteLLMOpenAIResponseObject
from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.chunks import ChunkTemplate
from luthien_litellm_plugin.errors import UpstreamStreamError
from luthien_litellm_plugin.streaming import responses_events as ev
from luthien_litellm_plugin.streaming.forwarded import ForwardedText, StreamItem
from luthien_litellm_plugin.streaming.responses_events import Event, kind_of, plain_object


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """An upstream event and its type (the event is shared with the proxy: never mutated)."""

    event: Event
    kind: str


class ResponsesWire:
    """What one stream's ingress learned that its egress needs."""

    def __init__(self) -> None:
        self._sources: dict[int, tuple[ModelResponseStream, SourceEvent]] = {}
        self.framing: dict[str, Event] = {}
        """The upstream's `response.created`, `.in_progress`, `.queued`, `.completed` / `.incomplete`, by type."""
        self.opening: list[Event] = []
        """The upstream's events before any output (`response.created`, …), in order."""
        self.terminal_chunk: ModelResponseStream | None = None
        """The chunk made from `response.completed` / `.incomplete` (finish reason and usage)."""

    def remember(self, chunk: ModelResponseStream, source: SourceEvent) -> None:
        # The chunk is kept alongside its id so the id cannot be reused while remembered.
        self._sources[id(chunk)] = (chunk, source)
        if source.kind in ev.FRAMING_EVENTS:
            self.framing[source.kind] = source.event
            if source.kind in ev.OPENING_EVENTS:
                self.opening.append(source.event)
            else:
                self.terminal_chunk = chunk

    def source_of(self, chunk: ModelResponseStream) -> SourceEvent | None:
        """The upstream event `chunk` was made from, if it is that very upstream chunk. Asked once
        per chunk (by the egress, as it sends it): the entry is dropped then, so a stream does not
        keep every event it parsed alive to its end."""
        found = self._sources.pop(id(chunk), None)
        if found is None or found[0] is not chunk:
            return None
        return found[1]

    @property
    def terminal(self) -> Event | None:
        """The upstream's `response.completed` or `response.incomplete`, once it came."""
        return self.framing.get(ev.COMPLETED) or self.framing.get(ev.INCOMPLETE)


class ResponsesIngress:
    """Turns an upstream of Responses event objects into normalized chunks, one per event."""

    def __init__(self, wire: ResponsesWire, *, text_chunks: bool = True) -> None:
        """`text_chunks=False`: text deltas become `ForwardedText`, not chunks (no policy reads them)."""
        self.wire = wire
        self._text_chunks = text_chunks
        self._converter = OpenAiResponsesToChatCompletionStreamIterator(
            streaming_response=None,  # type: ignore[arg-type]  # only its chunk parser is used
            sync_stream=False,
        )
        self._text = ChunkTemplate(self._parse)
        self._empty = ChunkTemplate(self._parse)

    async def chunks(self, upstream: AsyncIterator[object]) -> AsyncGenerator[StreamItem, None]:
        """Raises `UpstreamStreamError` for an upstream `error` / `response.failed` event, and for a
        stream that ends before `response.completed` (a truncated response is not a complete one)."""
        try:
            async for item in upstream:
                yield self.convert(_as_event(item))
            if self.wire.terminal is None:
                raise UpstreamStreamError.from_responses_code(
                    "server_error", "the upstream stream ended before response.completed"
                )
        finally:
            aclose = getattr(upstream, "aclose", None)
            if aclose is not None:
                await aclose()

    def convert(self, event: Event) -> StreamItem:
        kind = kind_of(event)
        if kind in (ev.ERROR, ev.FAILED):
            raise UpstreamStreamError.from_responses_event(kind, plain_object(event))
        source = SourceEvent(event, kind)
        text = event.get("delta") if kind == ev.TEXT_DELTA else None
        if isinstance(text, str):
            if not self._text_chunks:
                return ForwardedText(source, text, self._forwarded_chunk)
            chunk = self._text.chunk(event, text)
        elif _is_empty(kind, event):
            chunk = self._empty.chunk(event, "")
        else:
            data = event.model_dump()
            if kind == ev.REASONING_SUMMARY_DELTA:
                data["summary_index"] = 0  # LiteLLM uses it as the choice index; the stream has one choice
            chunk = self._converter.chunk_parser(data)
        self.wire.remember(chunk, source)
        return chunk

    def _forwarded_chunk(self, delta: ForwardedText) -> ModelResponseStream:
        """The chunk a forwarded text delta would have been (made only if a policy asks)."""
        source = delta.source
        if not isinstance(source, SourceEvent):
            raise TypeError(f"not a Responses event: {type(source).__name__}")
        return self._text.chunk(source.event, delta.text)

    def _parse(self, event: Event) -> ModelResponseStream:
        return self._converter.chunk_parser(event.model_dump())


def _is_empty(kind: str, event: Event) -> bool:
    """Whether LiteLLM's parser makes `event` a chunk with nothing in it and keeps no state from it
    (the content parts and the text's end, and a message item's start and end). Their chunks,
    like text deltas', come from a `ChunkTemplate`, so the event, which may hold the whole text,
    is not dumped for the parser."""
    if kind in (ev.PART_ADDED, ev.TEXT_DONE, ev.PART_DONE):
        return True
    if kind in (ev.ITEM_ADDED, ev.ITEM_DONE):
        item = event.get("item")
        kind_of_item = item.get("type") if isinstance(item, BaseLiteLLMOpenAIResponseObject | Mapping) else None
        return kind_of_item == "message"
    return False


def _as_event(item: object) -> Event:
    if isinstance(item, Event):
        return item
    raise TypeError(f"a Responses stream item is {type(item).__name__}, expected a LiteLLM event object")
