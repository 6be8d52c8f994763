"""Puts the viewer into the running LiteLLM Proxy: a `Mount("/luthien", …)` at the head of the
proxy app's route table, while the plugin is built (LiteLLM loads its config, and so our
callback, in its startup lifespan, before the first request is served).

At the head, because Starlette tries routes in order: no route LiteLLM adds later (config
pass-through endpoints, lazily loaded features, which re-sort the table but keep relative order)
can then shadow `/luthien/…`. The viewer is an ASGI app of its own, so LiteLLM's exception
handlers and auth dependencies never run for it; LiteLLM's middleware still wraps it (none of it
touches `/luthien`, and the viewer's API answers are short requests, not long-lived streams).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp

from luthien_litellm_plugin.history.database import open_database
from luthien_litellm_plugin.history.reader import TransactionHistory
from luthien_litellm_plugin.proxy.settings import LuthienSettings
from luthien_litellm_plugin.storage.settings import StorageSettings
from luthien_litellm_plugin.viewer.api import ViewerContext
from luthien_litellm_plugin.viewer.app import build_viewer
from luthien_litellm_plugin.viewer.auth import ViewerAuth
from luthien_litellm_plugin.viewer.live import ChangeFeed

logger = logging.getLogger("luthien_litellm_plugin.viewer")

VIEWER_PATH = "/luthien"
ROUTE_NAME = "luthien-viewer"
PROXY_MODULE = "litellm.proxy.proxy_server"


def mount_in_proxy(settings: LuthienSettings, model_policies: dict[str, str]) -> bool:
    """Mount the viewer into LiteLLM Proxy's app, if this process runs the proxy. Returns whether it did."""
    proxy_server = sys.modules.get(PROXY_MODULE)
    app = getattr(proxy_server, "app", None)
    routes = getattr(getattr(app, "router", None), "routes", None)
    if not isinstance(routes, list):
        return False
    storage = StorageSettings.resolve(settings.database_url, settings.spool_dir, settings.redis_url)
    viewer = viewer_for(storage, model_policies, settings.default_policy, lambda: _master_key(proxy_server))
    install(routes, viewer)
    logger.info("luthien: transaction viewer at %s/ (reads %s)", VIEWER_PATH, storage.backend)
    return True


def viewer_for(
    storage: StorageSettings, model_policies: dict[str, str], default_policy: str, master_key: Callable[[], str | None]
) -> ASGIApp:
    history = TransactionHistory(open_database(storage))
    feed = ChangeFeed(history, storage.redis_url, storage.redis_stream)
    return build_viewer(ViewerContext(history, feed, ViewerAuth(master_key), dict(model_policies), default_policy))


def install(routes: list[BaseRoute], viewer: ASGIApp) -> None:
    """Put the viewer first in `routes`, replacing one mounted before (a config reload)."""
    routes[:] = [route for route in routes if getattr(route, "name", None) != ROUTE_NAME]
    routes.insert(0, Mount(VIEWER_PATH, app=viewer, name=ROUTE_NAME))


def _master_key(proxy_server: object) -> str | None:
    """The proxy's master key as it holds it now (set from the environment or `general_settings`)."""
    key = getattr(proxy_server, "master_key", None)
    return key if isinstance(key, str) and key else None
