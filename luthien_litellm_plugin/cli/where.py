"""Where recordings are, decided as the plugin decides (`StorageSettings.resolve`)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from luthien_litellm_plugin.storage.settings import StorageSettings

ROOT = "callback_settings.luthien"
_ENVIRONMENT = {
    "database_url": "LUTHIEN_DATABASE_URL",
    "redis_url": "LUTHIEN_REDIS_URL",
    "spool_dir": "LUTHIEN_SPOOL_DIR",
}


class StorageConfigError(ValueError):
    """A storage setting is invalid; the message names where it came from (YAML key or variable)."""


def yaml_key(name: str) -> str:
    return f"{ROOT}.{name}"


def option(name: str) -> str:
    return "--" + name.replace("_", "-")


def storage_settings(
    database_url: str | None,
    spool_dir: str | None,
    redis_url: str | None,
    *,
    given_as: Callable[[str], str] = yaml_key,
) -> StorageSettings:
    """`StorageSettings.resolve`, with a validation error naming where the bad value came from:
    `given_as(name)` when it was given, else the environment variable it was read from."""
    try:
        return StorageSettings.resolve(database_url, spool_dir, redis_url)
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "database_url"
        given = {"database_url": database_url, "redis_url": redis_url, "spool_dir": spool_dir}.get(name)
        where = given_as(name) if given else _ENVIRONMENT.get(name, name)
        raise StorageConfigError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from error
