from __future__ import annotations

import json

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from luthien_litellm_plugin.events import InMemoryEventSink
from luthien_litellm_plugin.observability.context import DefaultObservabilityContext, NoOpObservabilityContext


async def test_emit_event_hands_enriched_scrubbed_events_to_every_sink_and_the_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    db, redis = InMemoryEventSink(), InMemoryEventSink()
    with provider.get_tracer("t").start_as_current_span("txn") as span:
        context = DefaultObservabilityContext("txn-1", span, db_pool=db, event_publisher=redis)
        await context.emit_event("policy.decision", {"headers": {"Authorization": "Bearer sk-x"}, "n": 1})
        trace_id = format(span.get_span_context().trace_id, "032x")
    assert db.events == redis.events
    [event] = db.events
    assert event.transaction_id == "txn-1"
    assert event.payload == {
        "headers": {"Authorization": "[redacted]"},
        "n": 1,
        "trace_id": trace_id,
        "span_id": event.payload["span_id"],
    }
    [finished] = exporter.get_finished_spans()
    [span_event] = finished.events
    assert span_event.name == "policy.decision"
    assert dict(span_event.attributes or {})["headers.Authorization"] == "[redacted]"


async def test_noop_context_records_nothing_and_keeps_its_id() -> None:
    context = NoOpObservabilityContext("txn-2")
    await context.emit_event("x", {"a": 1})
    context.record_metric("m", 1.0, {"model": "m"})
    assert context.transaction_id == "txn-2"


async def test_a_payload_nested_thousands_deep_is_recorded_and_reaches_the_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    deep: dict[str, object] = {"leaf": "sk-ant-api03-deepsecretdeepsecret"}
    for _ in range(5000):
        deep = {"a": deep}
    sink = InMemoryEventSink()
    with provider.get_tracer("t").start_as_current_span("txn") as span:
        context = DefaultObservabilityContext("txn-3", span, db_pool=sink)
        await context.emit_event("transaction.request_recorded", {"original_request": {"tools": [deep]}})
    [event] = sink.events
    encoded = json.dumps(event.payload)  # every JSON encoder downstream sees a bounded depth
    assert "deepsecret" not in encoded and "deepsecret" not in repr(exporter.get_finished_spans()[0].events)
