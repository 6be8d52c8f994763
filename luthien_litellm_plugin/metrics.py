"""OpenTelemetry instruments, created once per process, with a bounded label set."""

from __future__ import annotations

from opentelemetry import metrics
from opentelemetry.metrics import Counter, Histogram

ALLOWED_LABELS = frozenset({"model", "policy", "status", "streaming", "event_type", "sink", "judge_model"})
"""Labels with a bounded set of values. Per-request ids never become metric labels."""

_METER_NAME = "luthien_litellm_plugin"
_counters: dict[str, Counter] = {}
_histograms: dict[str, Histogram] = {}


def bounded_labels(labels: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in labels.items() if key in ALLOWED_LABELS}


def counter(name: str) -> Counter:
    instrument = _counters.get(name)
    if instrument is None:
        instrument = metrics.get_meter(_METER_NAME).create_counter(name)
        _counters[name] = instrument
    return instrument


def histogram(name: str, unit: str = "ms") -> Histogram:
    instrument = _histograms.get(name)
    if instrument is None:
        instrument = metrics.get_meter(_METER_NAME).create_histogram(name, unit=unit)
        _histograms[name] = instrument
    return instrument


def reset_instruments() -> None:
    """Forget cached instruments (tests that install a new MeterProvider call this)."""
    _counters.clear()
    _histograms.clear()
