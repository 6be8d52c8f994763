"""Tools run by LiteLLM's own MCP gateway are checked by the tool policy before they run."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx2
import pytest
import yaml
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from luthien_litellm_plugin.storage.jsonl import read_events
from tests.e2e.conftest import Proxy, start_proxy, stop_proxy
from tests.fakes.mcp_server import FakeMCPServer, running_mcp_server

POLICIES = {"no_shell": {"class": "block_tools", "options": {"tools": ["bash"]}}}


@dataclass
class MCPProxy:
    proxy: Proxy
    tools: FakeMCPServer


@pytest.fixture(scope="module")
def mcp_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MCPProxy]:
    directory = tmp_path_factory.mktemp("mcp")
    with running_mcp_server() as tools:
        config = directory / "litellm_config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "model_list": [],
                    "mcp_servers": {"fake_tools": {"url": tools.url, "transport": "http"}},
                    "litellm_settings": {"callbacks": ["luthien_litellm_plugin.callback"]},
                    "callback_settings": {"luthien": {"policies": POLICIES, "mcp_policy": "no_shell"}},
                }
            )
        )
        events = directory / "events.jsonl"
        process, base_url, key = start_proxy(config, events, directory / "proxy.log")
        try:
            yield MCPProxy(Proxy(base_url, key, events, None, directory / "proxy.log"), tools)  # type: ignore[arg-type]
        finally:
            stop_proxy(process)


async def _session(proxy: Proxy) -> AsyncIterator[ClientSession]:
    headers = {"x-litellm-api-key": f"Bearer {proxy.master_key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{proxy.base_url}/mcp/", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def call(proxy: Proxy, name: str, arguments: dict[str, object]) -> CallToolResult:
    async for session in _session(proxy):
        tools = await session.list_tools()
        [full_name] = [t.name for t in tools.tools if t.name.endswith(name)]
        result = await session.call_tool(full_name, arguments)
        assert isinstance(result, CallToolResult)
        return result
    raise AssertionError("no session")


def text(result: CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, TextContent))


@pytest.mark.e2e
async def test_an_allowed_mcp_tool_runs(mcp_proxy: MCPProxy) -> None:
    result = await call(mcp_proxy.proxy, "get_weather", {"location": "Paris"})
    assert not result.is_error, text(result)
    assert "sunny in Paris" in text(result)
    assert ("get_weather", {"location": "Paris"}) in mcp_proxy.tools.calls


@pytest.mark.e2e
async def test_a_blocked_mcp_tool_never_runs_and_is_recorded(mcp_proxy: MCPProxy) -> None:
    result = await call(mcp_proxy.proxy, "bash", {"command": "rm -rf /tmp/x"})
    assert result.is_error, text(result)
    assert "no_shell" in text(result) and "bash" in text(result)
    assert not [c for c in mcp_proxy.tools.calls if c[0] == "bash"]
    [blocked] = _recorded_blocks(mcp_proxy.proxy)
    recorded = mcp_proxy.proxy.events(str(blocked["transaction_id"]))
    [response] = [e["payload"] for e in recorded if e["event_type"] == "transaction.non_streaming_response_recorded"]
    assert isinstance(response, dict)
    assert "rm -rf" in json.dumps(response["original_response"])  # what the client asked to run
    assert "rm -rf" not in json.dumps(response["final_response"])


def _recorded_blocks(proxy: Proxy, timeout: float = 15.0) -> list[dict[str, object]]:
    """The `blocked` completions recorded so far, waiting for the first one."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            e
            for e in read_events(proxy.events_file)
            if e["event_type"] == "transaction.completed" and e["payload"]["status"] == "blocked"  # type: ignore[index]
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)  # the proxy writes on its own schedule; bounded by the deadline
