"""Where recording goes and how it is buffered: `StorageSettings`.

Values come from `callback_settings.luthien` (see `resolve`) or the environment (`from_env`):
`LUTHIEN_DATABASE_URL`, `LUTHIEN_REDIS_URL`, `LUTHIEN_SPOOL_DIR`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_SQLITE_PATH = "./luthien.db"
DEFAULT_SPOOL_DIR = "./luthien-spool"
DEFAULT_REDIS_KEY = "luthien:events"

_ENV = {
    "database_url": "LUTHIEN_DATABASE_URL",
    "redis_url": "LUTHIEN_REDIS_URL",
    "spool_dir": "LUTHIEN_SPOOL_DIR",
}
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_SCHEME = "sqlite:///"

Backend = Literal["postgres", "sqlite"]


class StorageSettings(BaseModel):
    """Recording destinations, buffering and retry behaviour. Immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str | None = None
    """`postgresql://…` / `postgres://…`, `sqlite:///path` (`sqlite:////abs/path`), or None: SQLite at
    `./luthien.db`."""
    postgres_schema: str = Field(default="luthien", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """Postgres schema holding the tables (kept out of `public`, which LiteLLM's Prisma rewrites)."""
    redis_url: str | None = None
    """`redis://…` enables the live feed; None disables it."""
    redis_stream: str = Field(default=DEFAULT_REDIS_KEY, min_length=1)
    redis_channel: str = Field(default=DEFAULT_REDIS_KEY, min_length=1)
    redis_stream_maxlen: int = Field(default=100_000, gt=0)
    """Approximate cap on the stream (`XADD … MAXLEN ~`)."""
    redis_dedupe_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    """How long a batch whose outcome is unknown (connection lost mid-write) stays recognisable, so
    that replaying it never duplicates it on the stream. Only a handful of such keys ever exist."""
    spool_dir: str = DEFAULT_SPOOL_DIR
    """Local directory for events a sink could not take yet (one subdirectory per sink)."""
    buffer_size: int = Field(default=10_000, gt=0)
    """Events held in memory per sink before the oldest are moved to the spool."""
    batch_size: int = Field(default=500, gt=0)
    flush_interval_seconds: float = Field(default=0.05, gt=0)
    """A partial batch is written at the latest this long after its first event."""
    max_backoff_seconds: float = Field(default=5.0, gt=0)
    """Retries of a failing sink back off exponentially up to this."""
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    write_timeout_seconds: float = Field(default=30.0, gt=0)
    drain_timeout_seconds: float = Field(default=10.0, ge=0)
    """At shutdown, how long to keep replaying the spool into a reachable sink; what is left stays
    in the spool for the next start."""

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith((*_POSTGRES_SCHEMES, _SQLITE_SCHEME)):
            raise ValueError(f"database_url must start with postgresql://, postgres:// or sqlite:///, got {value!r}")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **values: object) -> StorageSettings:
        """Settings from `LUTHIEN_*` variables; keyword arguments that are not None win."""
        env = os.environ if environ is None else environ
        merged: dict[str, object] = {field: env[name] for field, name in _ENV.items() if env.get(name)}
        merged.update({key: value for key, value in values.items() if value is not None})
        return cls.model_validate(merged)

    @classmethod
    def resolve(cls, database_url: str | None, spool_dir: str | None, redis_url: str | None = None) -> StorageSettings:
        """The plugin's `callback_settings.luthien` values, falling back to the environment."""
        return cls.from_env(database_url=database_url or None, spool_dir=spool_dir, redis_url=redis_url or None)

    @property
    def backend(self) -> Backend:
        if self.database_url is not None and self.database_url.startswith(_POSTGRES_SCHEMES):
            return "postgres"
        return "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgres"

    @property
    def sqlite_path(self) -> str:
        """The SQLite file (`sqlite:///rel/path` → `rel/path`, `sqlite:////abs` → `/abs`)."""
        if self.database_url is None:
            return DEFAULT_SQLITE_PATH
        if self.is_postgres:
            raise ValueError("database_url points at Postgres, not SQLite")
        return self.database_url.removeprefix(_SQLITE_SCHEME)
