"""Durable recording of transactions: Postgres or SQLite, a Redis live feed, a local spool.

Entry point: `build_recording_pipeline(StorageSettings.from_env())` gives a `RecordingPipeline`,
the `EventSink` the plugin submits events to.
"""

from luthien_litellm_plugin.storage.counters import SinkStats
from luthien_litellm_plugin.storage.pipeline import RecordingPipeline, build_recording_pipeline
from luthien_litellm_plugin.storage.settings import StorageSettings

__all__ = ["RecordingPipeline", "SinkStats", "StorageSettings", "build_recording_pipeline"]
