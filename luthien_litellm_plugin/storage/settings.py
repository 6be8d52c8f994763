"""Where recording goes: `callback_settings.luthien` keys, falling back to LUTHIEN_* variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_SQLITE_PATH = "./luthien.db"
DEFAULT_SPOOL_DIR = "./luthien-spool"


@dataclass(frozen=True)
class StorageSettings:
    database_url: str | None = None
    """`postgresql://…` / `postgres://…`, `sqlite:///path`, or None for SQLite at ./luthien.db."""
    redis_url: str | None = None
    """`redis://…` enables the live feed (stream and channel `luthien:events`)."""
    spool_dir: str = DEFAULT_SPOOL_DIR
    buffer_size: int = 10_000
    batch_size: int = 500
    flush_interval_seconds: float = 0.05

    @classmethod
    def resolve(cls, database_url: str | None, spool_dir: str | None, redis_url: str | None = None) -> StorageSettings:
        return cls(
            database_url=database_url or os.environ.get("LUTHIEN_DATABASE_URL") or None,
            redis_url=redis_url or os.environ.get("LUTHIEN_REDIS_URL") or None,
            spool_dir=spool_dir or os.environ.get("LUTHIEN_SPOOL_DIR") or DEFAULT_SPOOL_DIR,
        )

    @property
    def is_postgres(self) -> bool:
        return bool(self.database_url) and self.database_url.split(":", 1)[0] in {"postgres", "postgresql"}  # type: ignore[union-attr]

    @property
    def sqlite_path(self) -> str:
        url = self.database_url
        if url is None:
            return DEFAULT_SQLITE_PATH
        if not url.startswith("sqlite:///"):
            raise ValueError(f"database_url must start with postgresql://, postgres:// or sqlite:///, got {url!r}")
        return url[len("sqlite:///") :]
