"""A deeply nested request (a tool schema hundreds of levels deep) is served as stock LiteLLM serves it.

Bodies are built as text: the client side's own JSON encoder could not write them.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.conftest import Proxy
from tests.e2e.messages_proxy import MessagesProxy, messages_fake, messages_proxy, new_marker, stock_proxy

pytestmark = pytest.mark.e2e
__all__ = ["messages_fake", "messages_proxy", "stock_proxy"]  # the session fixtures this module uses


def deep_schema(levels: int) -> str:
    """A JSON schema nesting an object property `levels` times (two JSON levels each)."""
    return '{"type": "object", "properties": {"x": ' * levels + '{"type": "string"}' + "}}" * levels


def body(route: str, levels: int, stream: bool, marker: str) -> bytes:
    messages = json.dumps([{"role": "user", "content": marker}])
    if route == "chat":
        tools = '[{"type": "function", "function": {"name": "deep", "parameters": ' + deep_schema(levels) + "}}]"
        head = '{"model": "openai-passthrough", '
    else:
        tools = '[{"name": "deep", "input_schema": ' + deep_schema(levels) + "}]"
        head = '{"model": "anthropic-passthrough", "max_tokens": 64, '
    return (head + f'"stream": {json.dumps(stream)}, "messages": {messages}, "tools": {tools}}}').encode()


def post(proxy: Proxy, route: str, payload: bytes) -> httpx.Response:
    path = "/v1/chat/completions" if route == "chat" else "/v1/messages"
    headers = {**proxy.headers, "content-type": "application/json", "anthropic-version": "2023-06-01"}
    return httpx.post(f"{proxy.base_url}{path}", content=payload, headers=headers, timeout=60)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("route", ["chat", "messages"])
@pytest.mark.parametrize("levels", [250, 480])  # 480: ~960 JSON levels, about the deepest LiteLLM parses
def test_a_deep_tool_schema_is_served_as_stock_serves_it(
    messages_proxy: MessagesProxy, stock_proxy: Proxy, levels: int, route: str, stream: bool
) -> None:
    marker = new_marker()
    stock = post(stock_proxy, route, body(route, levels, stream, marker))
    served = post(messages_proxy, route, body(route, levels, stream, marker))
    assert stock.status_code == 200, stock.text
    assert served.status_code == 200, served.text
    assert ("Hello from the fake upstream" in served.text) == ("Hello from the fake upstream" in stock.text)
    transaction_id = served.headers["x-luthien-transaction-id"]
    row = messages_proxy.transaction_row(transaction_id)
    assert row["status"] == "success"
    recorded = json.loads(str(row["original_request"]))
    assert recorded["messages"][0]["content"] == marker
    deep = json.dumps(recorded["tools"])
    assert deep.count('\\"properties\\"') > 0  # the part past the depth bound is kept as JSON text


@pytest.mark.parametrize("route", ["chat", "messages"])
def test_deeper_than_litellm_parses_gets_the_same_answer_as_stock(
    messages_proxy: MessagesProxy, stock_proxy: Proxy, route: str
) -> None:
    payload = body(route, 2000, False, new_marker())
    stock, served = post(stock_proxy, route, payload), post(messages_proxy, route, payload)
    assert (served.status_code, served.json()["error"]["type"]) == (stock.status_code, stock.json()["error"]["type"])
