"""OpenTelemetry through the plugin, with the SDK's in-memory span exporter and metric reader."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litellm.proxy._types import UserAPIKeyAuth
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from luthien_litellm_plugin.events import InMemoryEventSink, RecordedEvent
from luthien_litellm_plugin.proxy.plugin import LuthienCallback
from luthien_litellm_plugin.proxy.settings import load_plugin_config
from luthien_litellm_plugin.storage.spool import Spool
from luthien_litellm_plugin.storage.sqlite import SqliteStore
from luthien_litellm_plugin.storage.writer import SinkWriter
from tests.streams import chunk, iterate, usage_chunk
from tests.unit.proxy.test_plugin import data

EXPORTER = InMemorySpanExporter()
READER = InMemoryMetricReader()


@pytest.fixture(scope="module")
def otel() -> Iterator[None]:
    # Global providers can be set once per process; this module is the only one that does.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))
    yield


async def test_one_span_per_transaction_child_of_the_callers_covering_the_stream(otel: None) -> None:
    EXPORTER.clear()
    callback = LuthienCallback(
        load_plugin_config({"policies": {"shout": {"class": "all_caps"}}}), {"loud": "shout"}, InMemoryEventSink()
    )
    request = data("loud", stream=True)
    with trace.get_tracer("litellm").start_as_current_span("litellm_request") as parent:
        await callback.async_pre_call_hook(UserAPIKeyAuth(), None, request, "acompletion")
        chunks = [chunk("a", role="assistant"), chunk("b"), chunk(finish_reason="stop"), usage_chunk()]
        stream = callback.async_post_call_streaming_iterator_hook(UserAPIKeyAuth(), iterate(chunks), request)
        await anext(stream)
        assert [s.name for s in EXPORTER.get_finished_spans()] == []  # still streaming: span open
        async for _ in stream:
            pass
    spans = {s.name: s for s in EXPORTER.get_finished_spans()}
    ours = spans["luthien.transaction"]
    assert ours.parent is not None and ours.parent.span_id == parent.get_span_context().span_id
    attributes = dict(ours.attributes or {})
    assert attributes["luthien.status"] == "success"
    assert (attributes["luthien.model"], attributes["luthien.policy"], attributes["luthien.streaming"]) == (
        "loud",
        "shout",
        True,
    )
    assert (attributes["luthien.chunks.ingress"], attributes["luthien.chunks.egress"]) == (4, 3)
    assert isinstance(attributes["luthien.time_to_first_byte_ms"], float)
    events = {e.name: dict(e.attributes or {}) for e in ours.events}
    assert events["transaction.completed"]["status"] == "success"
    assert events["transaction.request_recorded"]["original_request.model"] == "loud"
    assert all(isinstance(v, str | bool | int | float) for e in events.values() for v in e.values())


async def test_metrics_have_bounded_labels(otel: None) -> None:
    callback = LuthienCallback(load_plugin_config({}), {}, InMemoryEventSink())
    for _ in range(3):
        request = data("m")
        await callback.async_pre_call_hook(UserAPIKeyAuth(), None, request, "acompletion")
        await callback.async_post_call_failure_hook(request, ValueError("x"), UserAPIKeyAuth())
    collected = READER.get_metrics_data()
    assert collected is not None
    points = {
        metric.name: [dict(p.attributes or {}) for p in metric.data.data_points]
        for rm in collected.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    assert {"luthien.transactions", "luthien.transaction.duration", "luthien.policy.request_latency"} <= set(points)
    allowed = {"model", "policy", "status", "streaming"}
    assert all(set(labels) <= allowed for values in points.values() for labels in values)
    assert {"model": "m", "policy": "passthrough", "status": "error", "streaming": "false"} in points[
        "luthien.transactions"
    ]


def sqlite_written() -> int:
    collected = READER.get_metrics_data()
    values = [
        int(point.value)
        for rm in (collected.resource_metrics if collected else [])
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == "luthien.sink.written"
        for point in metric.data.data_points
        if dict(point.attributes or {}) == {"sink": "sqlite"}
    ]
    return sum(values)


async def test_sink_counters_are_exported_as_metrics(otel: None, tmp_path: Path) -> None:
    before = sqlite_written()
    writer = SinkWriter(SqliteStore(tmp_path / "db.sqlite"), Spool(tmp_path, "sqlite"))
    writer.start()
    for event in [RecordedEvent("t", "x", {"n": i}, sequence=i) for i in range(5)]:
        writer.submit(event)
    await writer.settle()
    await writer.aclose()
    assert sqlite_written() - before == 5
    assert writer.counters.summary() == "luthien sink sqlite: written=5 spooled=0 replayed=0 dropped=0 failures=0"


async def test_judge_verdicts_are_span_events_and_judge_latency_a_histogram_of_policy_and_judge_model(
    otel: None,
) -> None:
    EXPORTER.clear()
    config = load_plugin_config(
        {
            "policies": {
                "judged": {"class": "tool_call_judge", "options": {"judge_model": "judge", "timeout_seconds": 0.01}}
            }
        }
    )
    callback = LuthienCallback(config, {"guarded": "judged"}, InMemoryEventSink())
    request = data("guarded", stream=True)
    await callback.async_pre_call_hook(UserAPIKeyAuth(), None, request, "acompletion")
    chunks = [chunk(tool_call=(0, "c", "bash", "{}")), chunk(finish_reason="tool_calls")]
    # no router outside the proxy: the judge call fails, the call is blocked, the verdict says why
    async for _ in callback.async_post_call_streaming_iterator_hook(UserAPIKeyAuth(), iterate(chunks), request):
        pass
    [ours] = [s for s in EXPORTER.get_finished_spans() if s.name == "luthien.transaction"]
    [verdict] = [dict(e.attributes or {}) for e in ours.events if e.name == "policy.judge_verdict"]
    assert (verdict["policy"], verdict["tool_name"], verdict["blocked"], verdict["judge_model"]) == (
        "judged",
        "bash",
        True,
        "judge",
    )
    assert "blocked (on_error: block)" in str(verdict["reason"])
    collected = READER.get_metrics_data()
    assert collected is not None
    [labels] = [
        dict(point.attributes or {})
        for rm in collected.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == "luthien.judge.latency"
        for point in metric.data.data_points
    ]
    assert labels == {"policy": "judged", "judge_model": "judge"}
