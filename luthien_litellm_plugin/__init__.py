"""luthien_litellm_plugin: policies and recording for LiteLLM Proxy.

`luthien_litellm_plugin.callback` is the instance `litellm_config.yaml` references
(`litellm_settings: {callbacks: ["luthien_litellm_plugin.callback"]}`). It is built on first
access, from the proxy's configuration, so importing the engine as a library costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from luthien_litellm_plugin.proxy.plugin import LuthienCallback

__all__ = ["callback"]

_callback: LuthienCallback | None = None


def __getattr__(name: str) -> object:
    global _callback
    if name != "callback":
        raise AttributeError(f"module 'luthien_litellm_plugin' has no attribute {name!r}")
    if _callback is None:
        from luthien_litellm_plugin.proxy.bootstrap import build_callback

        _callback = build_callback()
    return _callback
