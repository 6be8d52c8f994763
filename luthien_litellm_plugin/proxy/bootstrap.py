"""Builds the plugin the way LiteLLM Proxy loads it: from its config, at import time."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
from collections.abc import Mapping

import litellm

from luthien_litellm_plugin.events import EventSink, FanOutEventSink
from luthien_litellm_plugin.proxy.litellm_contract import check_litellm_contract
from luthien_litellm_plugin.proxy.litellm_workarounds import avoid_gc_contextvar_crash
from luthien_litellm_plugin.proxy.model_policies import (
    check_fallbacks,
    check_policy_models,
    load_config_file,
    model_list_of,
    model_policies,
)
from luthien_litellm_plugin.proxy.plugin import LuthienCallback
from luthien_litellm_plugin.proxy.route_guards import install_route_guards
from luthien_litellm_plugin.proxy.settings import LuthienSettings, PluginConfig, load_plugin_config
from luthien_litellm_plugin.storage.jsonl import JsonLinesEventSink
from luthien_litellm_plugin.storage.pipeline import build_recording_pipeline
from luthien_litellm_plugin.storage.settings import StorageSettings
from luthien_litellm_plugin.viewer.mount import mount_in_proxy

logger = logging.getLogger("luthien_litellm_plugin")


def _config_file_path() -> str | None:
    try:
        from litellm.proxy import proxy_server
    except ImportError:  # litellm installed without the proxy extra
        return None
    path = getattr(proxy_server, "user_config_file_path", None)
    return path if isinstance(path, str) else None


def recording_sink(settings: LuthienSettings) -> EventSink:
    """The database pipeline (SQLite ./luthien.db unless `database_url` says otherwise), plus a
    JSON-lines file when LUTHIEN_EVENTS_FILE is set. Buffered events are spooled at exit."""
    pipeline = build_recording_pipeline(
        StorageSettings.resolve(settings.database_url, settings.spool_dir, settings.redis_url)
    )
    atexit.register(pipeline.spool_buffered)
    with contextlib.suppress(RuntimeError):  # no running loop (library use): writers start at the first event
        asyncio.get_running_loop()
        pipeline.start()  # the proxy loads its config inside its event loop: migrate now, not at a first request
    path = os.environ.get("LUTHIEN_EVENTS_FILE")
    return FanOutEventSink([pipeline, JsonLinesEventSink(path)]) if path else pipeline


def validated_config(luthien: object, file_config: Mapping[str, object]) -> tuple[PluginConfig, dict[str, str]]:
    """`callback_settings.luthien` and the rest of litellm_config.yaml, checked as the proxy checks
    them at start (also by `luthien check-config`): the plugin's settings and policies, each model
    group's policy, fallbacks, the model groups policies call (judges). Raises `ConfigError` naming
    the YAML key."""
    config = load_plugin_config(luthien)
    default = config.settings.default_policy
    policies = model_policies(model_list_of(file_config), set(config.policies), default)
    check_fallbacks(file_config, lambda group: policies.get(group, default), config.same_policy)
    if file_config:  # without a config file (library use) there are no model groups to check
        check_policy_models(config.policies, file_config)
    return config, policies


def build_callback(sink: EventSink | None = None) -> LuthienCallback:
    """The plugin for the running proxy. Raises `ConfigError`, which makes the proxy refuse to
    start, when the configuration is invalid (naming the YAML key) or the installed LiteLLM would
    not call the plugin's hooks as it relies on (naming the LiteLLM version)."""
    avoid_gc_contextvar_crash()
    settings = getattr(litellm, "callback_settings", None) or {}
    path = _config_file_path()
    file_config = load_config_file(path) if path else {}
    config, policies = validated_config(settings.get("luthien") if isinstance(settings, dict) else None, file_config)
    logger.info("luthien: policies per model group: %s (default %s)", policies, config.settings.default_policy)
    callback = LuthienCallback(config, policies, sink if sink is not None else recording_sink(config.settings))
    check_litellm_contract(callback)
    if path:  # inside the proxy: guard the routes that reach a provider without calling a hook
        guard_hookless_routes(callback)
    if config.settings.viewer:
        mount_in_proxy(config.settings, policies)
    return callback


def guard_hookless_routes(callback: LuthienCallback) -> None:
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth
    from litellm.proxy.proxy_server import app

    install_route_guards(app.router.routes, callback, user_api_key_auth)
