"""RecordingPipeline: the EventSink the plugin records into; fans out to one writer per store."""

from __future__ import annotations

from luthien_litellm_plugin.observability.events import RecordedEvent
from luthien_litellm_plugin.storage.postgres import PostgresStore
from luthien_litellm_plugin.storage.redis_feed import RedisFeed
from luthien_litellm_plugin.storage.settings import StorageSettings
from luthien_litellm_plugin.storage.spool import Spool
from luthien_litellm_plugin.storage.sqlite import SqliteStore
from luthien_litellm_plugin.storage.store import EventStore
from luthien_litellm_plugin.storage.writer import SinkCounters, SinkWriter


class RecordingPipeline:
    """`submit` hands each event to every writer's buffer (no I/O); writers run in the background."""

    def __init__(self, writers: list[SinkWriter]) -> None:
        self.writers = writers
        self._started = False

    def submit(self, event: RecordedEvent) -> None:
        if not self._started:
            self.start()
        for writer in self.writers:
            writer.submit(event)

    def start(self) -> None:
        """Start the background writers (needs a running event loop)."""
        for writer in self.writers:
            writer.start()
        self._started = True

    async def flush(self) -> None:
        for writer in self.writers:
            await writer.flush()

    async def aclose(self) -> None:
        for writer in self.writers:
            await writer.aclose()

    def spool_buffered(self) -> None:
        """Synchronously move whatever is still buffered to the spools (at process exit, when
        no event loop is left to flush with); the next start replays it."""
        for writer in self.writers:
            writer.spool_buffered()

    @property
    def counters(self) -> dict[str, SinkCounters]:
        return {writer.name: writer.counters for writer in self.writers}


def database_store(settings: StorageSettings) -> EventStore:
    if settings.is_postgres:
        assert settings.database_url is not None
        return PostgresStore(settings.database_url)
    return SqliteStore(settings.sqlite_path)


def build_recording_pipeline(
    settings: StorageSettings, extra_stores: list[EventStore] | None = None
) -> RecordingPipeline:
    stores = [database_store(settings), *(extra_stores or [])]
    if settings.redis_url:
        stores.append(RedisFeed(settings.redis_url))
    writers = [
        SinkWriter(
            store,
            Spool(settings.spool_dir, store.name),
            buffer_size=settings.buffer_size,
            batch_size=settings.batch_size,
            flush_interval_seconds=settings.flush_interval_seconds,
        )
        for store in stores
    ]
    return RecordingPipeline(writers)
