"""Which LiteLLM routes the plugin covers, and which it lets through without a policy.

LiteLLM calls the pre-call hook with a `call_type` naming the route family. Covered call
types run through the policy engine. Every other one reaches a model (or the provider) outside
the policy, so it is refused unless the policy that would apply is a passthrough, or an
operator allowed it in `callback_settings.luthien.unpoliced_routes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from litellm.types.utils import CallTypes

from luthien_litellm_plugin.proxy.request_data import Api

COVERED_APIS: Mapping[str, Api] = {
    "acompletion": "chat",
    "completion": "chat",
    "anthropic_messages": "messages",
    "aresponses": "responses",
}
"""Call types whose requests and responses run through the policy engine, by client API."""

PASS_THROUGH_CALL_TYPE = "pass_through_endpoint"
"""LiteLLM's provider pass-through routes (`/openai/*`, `/anthropic/*`, …): raw provider bodies,
sent with the proxy's own provider credentials; streamed responses never reach a hook."""

MCP_TOOL_CALL_TYPE = "call_mcp_tool"
"""A tool LiteLLM's own MCP gateway is about to run for a client (synthetic data: the tool's
name and arguments); the MCP policy (`mcp_policy`, else the default) checks it."""

COMMA_LIST_CALL_TYPES = frozenset({"acompletion", "completion"})
"""Call types for which LiteLLM reads `model: "a,b"` as several models (batch completion)."""


def known_call_types() -> frozenset[str]:
    return frozenset(call_type.value for call_type in CallTypes) | {PASS_THROUGH_CALL_TYPE}


def request_path(data: Mapping[str, object]) -> str:
    """The path the client called (from LiteLLM's `proxy_server_request`), or '' if unknown."""
    server_request = data.get("proxy_server_request")
    url = server_request.get("url") if isinstance(server_request, Mapping) else None
    return urlsplit(url).path if isinstance(url, str) else ""


class UnpolicedRoutes:
    """Routes an operator allowed without a policy: call types (`aembedding`) or path prefixes
    (`/anthropic`, `/v1/embeddings`)."""

    def __init__(self, entries: Iterable[str]) -> None:
        entries = list(entries)
        self.call_types = frozenset(entry for entry in entries if not entry.startswith("/"))
        self.path_prefixes = tuple(entry.rstrip("/") for entry in entries if entry.startswith("/"))

    def allows(self, call_type: str, path: str) -> bool:
        if call_type in self.call_types:
            return True
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.path_prefixes)

    def __bool__(self) -> bool:
        return bool(self.call_types or self.path_prefixes)
