"""ObservabilityContext: one transaction's handle for events, metrics and its span."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping

from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from luthien_litellm_plugin import metrics
from luthien_litellm_plugin.events import EventSink, RecordedEvent
from luthien_litellm_plugin.observability.redaction import scrub_secrets
from luthien_litellm_plugin.types import JSONObject, JSONValue

SpanAttributes = Mapping[str, JSONValue]


class ObservabilityContext(ABC):
    """Unified interface for observability operations."""

    @property
    @abstractmethod
    def transaction_id(self) -> str:
        """Transaction ID for this context."""

    @abstractmethod
    async def emit_event(self, event_type: str, data: JSONObject) -> None:
        """Record an event of this transaction. Never waits for I/O."""

    @abstractmethod
    def record_metric(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        """Add `value` to the counter `name`, labelled with this context's bounded labels."""

    @abstractmethod
    def add_span_attribute(self, key: str, value: JSONValue) -> None:
        """Add attribute to current span."""

    @abstractmethod
    def add_span_event(self, name: str, attributes: SpanAttributes | None = None) -> None:
        """Add event to current span."""

    def record_histogram(
        self, name: str, value: float, labels: dict[str, str] | None = None, *, only: bool = False
    ) -> None:
        """Record `value` (milliseconds) in the histogram `name`, labelled with this context's
        bounded labels plus `labels` (with `only`: `labels` alone). Default: nothing."""


class NoOpObservabilityContext(ObservabilityContext):
    """No-op implementation for testing."""

    def __init__(self, transaction_id: str) -> None:
        self._transaction_id = transaction_id

    @property
    def transaction_id(self) -> str:
        return self._transaction_id

    async def emit_event(self, event_type: str, data: JSONObject) -> None:
        pass

    def record_metric(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        pass

    def add_span_attribute(self, key: str, value: JSONValue) -> None:
        pass

    def add_span_event(self, name: str, attributes: SpanAttributes | None = None) -> None:
        pass


class DefaultObservabilityContext(ObservabilityContext):
    """Events to sinks (database, Redis: buffered, written in the background), span, metrics.

    `db_pool` and `event_publisher` are the plan's names for the two sinks; any `EventSink`
    fits either. `labels` (model, policy, …) are added to every metric; only bounded label
    names are kept (see `metrics.ALLOWED_LABELS`).
    """

    def __init__(
        self,
        transaction_id: str,
        span: Span,
        db_pool: EventSink | None = None,
        event_publisher: EventSink | None = None,
        *,
        labels: dict[str, str] | None = None,
    ) -> None:
        self._transaction_id = transaction_id
        self.span = span
        self._sinks = [sink for sink in (db_pool, event_publisher) if sink is not None]
        self._labels = metrics.bounded_labels(labels or {})
        self._sequence = 0
        context = span.get_span_context()
        self._trace_ids: JSONObject = (
            {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
            if context.is_valid
            else {}
        )

    @property
    def transaction_id(self) -> str:
        return self._transaction_id

    async def emit_event(self, event_type: str, data: JSONObject) -> None:
        """Hand the event to the sinks (no I/O here) and add it to the span."""
        self.emit_event_nowait(event_type, data)

    def emit_event_nowait(self, event_type: str, data: JSONObject) -> None:
        payload = scrub_secrets({**data, **self._trace_ids})
        assert isinstance(payload, dict)
        event = RecordedEvent(self._transaction_id, event_type, payload, sequence=self._sequence)
        self._sequence += 1
        for sink in self._sinks:
            sink.submit(event)
        if self.span.is_recording():
            self.add_span_event(event_type, payload)

    def record_metric(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        all_labels = {**self._labels, **metrics.bounded_labels(labels or {})}
        metrics.counter(name).add(value, all_labels)

    def record_histogram(
        self, name: str, value: float, labels: dict[str, str] | None = None, *, only: bool = False
    ) -> None:
        given = metrics.bounded_labels(labels or {})
        metrics.histogram(name).record(value, given if only else {**self._labels, **given})

    def add_span_attribute(self, key: str, value: JSONValue) -> None:
        attribute = _primitive(value)
        if attribute is not None:
            self.span.set_attribute(key, attribute)

    def add_span_event(self, name: str, attributes: SpanAttributes | None = None) -> None:
        self.span.add_event(name, flatten_attributes(attributes or {}))


_MAX_ATTRIBUTE_CHARS = 4096


def flatten_attributes(attributes: SpanAttributes, prefix: str = "") -> dict[str, AttributeValue]:
    """Nested values as dotted keys with primitive values (what span events accept)."""
    flat: dict[str, AttributeValue] = {}
    for key, value in attributes.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_attributes(value, f"{name}."))
            continue
        primitive = _primitive(value)
        if primitive is not None:
            flat[name] = primitive
    return flat


def _primitive(value: JSONValue) -> AttributeValue | None:
    if isinstance(value, str):
        return value[:_MAX_ATTRIBUTE_CHARS]
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list):
        return json.dumps(value, default=str)[:_MAX_ATTRIBUTE_CHARS]
    return None
