"""`RecordingPipeline`: the `EventSink` the plugin records into. It hands every event to one
`SinkWriter` per destination (the database, and Redis when configured)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.storage.counters import SinkStats
from luthien_litellm_plugin.storage.postgres import PostgresStore
from luthien_litellm_plugin.storage.redis_feed import RedisFeed
from luthien_litellm_plugin.storage.settings import StorageSettings
from luthien_litellm_plugin.storage.spool import Spool
from luthien_litellm_plugin.storage.sqlite import SqliteStore
from luthien_litellm_plugin.storage.store import EventStore
from luthien_litellm_plugin.storage.writer import SinkWriter


class RecordingPipeline:
    """Records events durably, off the request path.

    - `submit(event)`: O(1), no I/O, safe before `start()` (events wait in memory; with a running
      loop the first event starts the writers).
    - `await start()`: connect, migrate, launch the writers. (`start()` also works unawaited:
      it returns a future, done once every sink was tried.)
    - `await flush()`: everything submitted so far is in its sink or in the spool;
      `await settle()`: in its sink (spooled events replayed).
    - `await aclose()`: drain, stop, log one counter line per sink. `spool_buffered()`: the
      synchronous last resort at process exit.
    - `counters`: a `SinkStats` snapshot per sink (`written`, `spooled`, `replayed`, `dropped`).
    """

    def __init__(self, writers: Sequence[SinkWriter]) -> None:
        self.writers = list(writers)
        self._submits = tuple(writer.submit for writer in self.writers)

    def submit(self, event: RecordedEvent) -> None:
        for submit in self._submits:
            submit(event)

    def start(self) -> asyncio.Future[None]:
        futures = [writer.start() for writer in self.writers]
        return _all_done(futures)

    async def flush(self) -> None:
        await asyncio.gather(*(writer.flush() for writer in self.writers))

    async def settle(self) -> None:
        await asyncio.gather(*(writer.settle() for writer in self.writers))

    async def aclose(self) -> None:
        await asyncio.gather(*(writer.aclose() for writer in self.writers))

    def spool_buffered(self) -> None:
        for writer in self.writers:
            writer.spool_buffered()

    @property
    def counters(self) -> dict[str, SinkStats]:
        return {writer.name: writer.stats() for writer in self.writers}

    def writer(self, name: str) -> SinkWriter:
        """The writer of sink `name` (`postgres`, `sqlite`, `redis`)."""
        for writer in self.writers:
            if writer.name == name:
                return writer
        raise KeyError(name)

    async def __aenter__(self) -> RecordingPipeline:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


def database_store(settings: StorageSettings) -> EventStore:
    """Postgres for `postgresql://` / `postgres://` URLs, otherwise SQLite."""
    if settings.database_url is not None and settings.is_postgres:
        return PostgresStore(
            settings.database_url,
            schema=settings.postgres_schema,
            connect_timeout=settings.connect_timeout_seconds,
            command_timeout=settings.write_timeout_seconds,
        )
    return SqliteStore(settings.sqlite_path)


def redis_feed(settings: StorageSettings) -> RedisFeed | None:
    if settings.redis_url is None:
        return None
    return RedisFeed(
        settings.redis_url,
        stream=settings.redis_stream,
        channel=settings.redis_channel,
        maxlen=settings.redis_stream_maxlen,
        dedupe_ttl_seconds=settings.redis_dedupe_ttl_seconds,
        connect_timeout=settings.connect_timeout_seconds,
        command_timeout=settings.write_timeout_seconds,
    )


def build_recording_pipeline(
    settings: StorageSettings, extra_stores: Sequence[EventStore] | None = None
) -> RecordingPipeline:
    """The pipeline `settings` describe: the database, Redis if configured, and `extra_stores`."""
    stores: list[EventStore] = [database_store(settings), *(extra_stores or [])]
    feed = redis_feed(settings)
    if feed is not None:
        stores.append(feed)
    return RecordingPipeline([sink_writer(store, settings) for store in stores])


def sink_writer(store: EventStore, settings: StorageSettings) -> SinkWriter:
    return SinkWriter(
        store,
        Spool(Path(settings.spool_dir), store.name),
        buffer_size=settings.buffer_size,
        batch_size=settings.batch_size,
        flush_interval_seconds=settings.flush_interval_seconds,
        max_backoff_seconds=settings.max_backoff_seconds,
        drain_timeout_seconds=settings.drain_timeout_seconds,
    )


def _all_done(futures: list[asyncio.Future[None]]) -> asyncio.Future[None]:
    """A future done when all of `futures` are (they never fail)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    remaining = len(futures)

    def one_done(_: asyncio.Future[None]) -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0 and not done.done():
            done.set_result(None)

    if not futures:
        done.set_result(None)
    for future in futures:
        future.add_done_callback(one_done)
    return done
