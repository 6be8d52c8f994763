"""StorageSettings: defaults, environment, URL forms, validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from luthien_litellm_plugin.storage.settings import StorageSettings


def test_defaults_record_into_sqlite_without_redis() -> None:
    settings = StorageSettings()
    assert (settings.backend, settings.sqlite_path, settings.redis_url) == ("sqlite", "./luthien.db", None)
    assert (settings.redis_stream, settings.redis_channel) == ("luthien:events", "luthien:events")
    assert settings.spool_dir == "./luthien-spool" and settings.postgres_schema == "luthien"
    assert (settings.buffer_size, settings.batch_size, settings.flush_interval_seconds) == (10_000, 500, 0.05)
    assert settings.redis_stream_maxlen == 100_000


def test_from_env_reads_the_luthien_variables() -> None:
    env = {
        "LUTHIEN_DATABASE_URL": "postgresql://u@db:5432/x",
        "LUTHIEN_REDIS_URL": "redis://r:6379/0",
        "LUTHIEN_SPOOL_DIR": "/var/spool/luthien",
    }
    settings = StorageSettings.from_env(env)
    assert settings.is_postgres and settings.redis_url == "redis://r:6379/0"
    assert settings.spool_dir == "/var/spool/luthien"


def test_explicit_values_win_over_the_environment_and_blank_means_unset() -> None:
    env = {"LUTHIEN_DATABASE_URL": "postgres://u@db/x", "LUTHIEN_REDIS_URL": ""}
    settings = StorageSettings.from_env(env, database_url="sqlite:///tmp/a.db", batch_size=7)
    assert (settings.backend, settings.sqlite_path, settings.batch_size) == ("sqlite", "tmp/a.db", 7)
    assert settings.redis_url is None
    assert StorageSettings.from_env(env).backend == "postgres"  # postgres:// is accepted too


def test_resolve_takes_the_plugin_settings_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUTHIEN_SPOOL_DIR", "/from/env")
    monkeypatch.delenv("LUTHIEN_DATABASE_URL", raising=False)
    settings = StorageSettings.resolve("sqlite:////abs/luthien.db", None, "redis://x")
    assert (settings.sqlite_path, settings.spool_dir, settings.redis_url) == (
        "/abs/luthien.db",
        "/from/env",
        "redis://x",
    )


@pytest.mark.parametrize(
    "values",
    [
        {"database_url": "mysql://x"},
        {"postgres_schema": "luthien; DROP TABLE x"},
        {"buffer_size": 0},
        {"flush_interval_seconds": 0},
        {"unknown": 1},
    ],
)
def test_invalid_settings_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        StorageSettings.model_validate(values)


def test_settings_are_immutable() -> None:
    with pytest.raises(ValidationError):
        StorageSettings().batch_size = 3
