"""The viewer goes first in the proxy's route table, replaces an earlier mount, and is skipped
when no proxy runs in this process."""

from __future__ import annotations

import sys
import types

from starlette.routing import Mount, Route

from luthien_litellm_plugin.proxy.settings import LuthienSettings
from luthien_litellm_plugin.viewer import mount


async def endpoint(_: object) -> None:
    return None


def test_the_viewer_is_first_and_mounted_once() -> None:
    catch_all = Route("/{path:path}", endpoint)
    routes: list[object] = [Route("/v1/chat/completions", endpoint), catch_all]
    mount.install(routes, lambda scope, receive, send: None)  # type: ignore[arg-type]
    mount.install(routes, lambda scope, receive, send: None)  # type: ignore[arg-type]
    viewers = [r for r in routes if isinstance(r, Mount) and r.name == mount.ROUTE_NAME]
    assert len(viewers) == 1 and routes[0] is viewers[0] and viewers[0].path == "/luthien"


def test_without_a_running_proxy_nothing_is_mounted() -> None:
    settings = LuthienSettings()
    saved = sys.modules.pop(mount.PROXY_MODULE, None)
    try:
        assert mount.mount_in_proxy(settings, {}) is False
        fake = types.ModuleType(mount.PROXY_MODULE)
        fake.app = types.SimpleNamespace(router=types.SimpleNamespace(routes=[]))  # type: ignore[attr-defined]
        fake.master_key = "sk-x"  # type: ignore[attr-defined]
        sys.modules[mount.PROXY_MODULE] = fake
        assert mount.mount_in_proxy(settings, {"m": "passthrough"}) is True
        assert fake.app.router.routes[0].path == "/luthien"  # type: ignore[attr-defined]
    finally:
        sys.modules.pop(mount.PROXY_MODULE, None)
        if saved is not None:
            sys.modules[mount.PROXY_MODULE] = saved
