"""`luthien check-config`: the plugin's own validation of a litellm_config.yaml, without a proxy.

It runs what the proxy runs when it loads the plugin (`validated_config`: settings, policies,
each model group's policy, fallbacks; then the storage settings), so it fails on the same
problems and names the same YAML key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from luthien_litellm_plugin.cli.where import StorageConfigError, storage_settings
from luthien_litellm_plugin.proxy.bootstrap import validated_config
from luthien_litellm_plugin.proxy.settings import ConfigError, PluginConfig, load_plugin_config
from luthien_litellm_plugin.storage.settings import StorageSettings

CALLBACK = "luthien_litellm_plugin.callback"


@dataclass
class CheckedConfig:
    """A configuration that passed, with what the plugin would do with it."""

    config: PluginConfig
    policies_by_model: dict[str, str]
    storage: StorageSettings
    warnings: list[str] = field(default_factory=list)


def read_config_file(path: Path) -> dict[str, object]:
    """The YAML mapping in `path`; `ConfigError` when it is missing or not a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror or error})") from error
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top, got {type(loaded).__name__}")
    return loaded


def luthien_section(config: dict[str, object]) -> object:
    callback_settings = config.get("callback_settings")
    return callback_settings.get("luthien") if isinstance(callback_settings, dict) else None


def configured_storage(path: Path) -> tuple[str | None, str | None, str | None]:
    """(database_url, spool_dir, redis_url) from `path`'s `callback_settings.luthien`, validated as
    the proxy would (`os.environ/` references resolved)."""
    settings = load_plugin_config(luthien_section(read_config_file(path))).settings
    return settings.database_url, settings.spool_dir, settings.redis_url


def check_config(path: Path) -> CheckedConfig:
    """Validate the plugin's part of `path` as the proxy would. Raises `ConfigError` naming the key."""
    raw = read_config_file(path)
    plugin, by_model = validated_config(luthien_section(raw), raw)
    settings = plugin.settings
    try:
        storage = storage_settings(settings.database_url, settings.spool_dir, settings.redis_url)
    except StorageConfigError as error:
        raise ConfigError(str(error)) from error
    checked = CheckedConfig(plugin, by_model, storage)
    if CALLBACK not in _callbacks(raw):
        checked.warnings.append(
            f"litellm_settings.callbacks: '{CALLBACK}' is not listed, so the proxy will not load the plugin"
        )
    if not _has_master_key(raw):
        checked.warnings.append(
            "general_settings.master_key: not set (nor LITELLM_MASTER_KEY): the proxy refuses to start without one"
        )
    return checked


def _callbacks(raw: dict[str, object]) -> list[object]:
    settings = raw.get("litellm_settings")
    callbacks = settings.get("callbacks") if isinstance(settings, dict) else None
    if isinstance(callbacks, str):
        return [callbacks]
    return list(callbacks) if isinstance(callbacks, list) else []


def _has_master_key(raw: dict[str, object]) -> bool:
    general = raw.get("general_settings")
    key = general.get("master_key") if isinstance(general, dict) else None
    if isinstance(key, str) and key.startswith("os.environ/"):
        return bool(os.environ.get(key.removeprefix("os.environ/")))
    return bool(key) or bool(os.environ.get("LITELLM_MASTER_KEY"))
