"""Malformed requests get the 4xx stock LiteLLM gives, in the client's format, and leave nothing open.

A stock proxy (no plugin) in front of the same fake upstream answers the same requests: the test
compares against what it says rather than against hard-coded answers.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time

import httpx
import pytest

from luthien_litellm_plugin.storage.jsonl import read_events
from tests.e2e.conftest import Proxy
from tests.e2e.messages_proxy import MessagesProxy, messages_fake, messages_proxy, new_marker, stock_proxy

pytestmark = pytest.mark.e2e
__all__ = ["messages_fake", "messages_proxy", "stock_proxy"]  # the session fixtures this module uses

ROUTES = {"chat": ("/v1/chat/completions", "openai-passthrough"), "messages": ("/v1/messages", "anthropic-passthrough")}
HI = [{"role": "user", "content": "hi"}]


def malformed(route: str) -> dict[str, bytes]:
    """Bodies with no policeable shape, for `route` (a `/v1/messages` body has its `max_tokens`)."""
    model = ROUTES[route][1]
    extra = {"max_tokens": 16} if route == "messages" else {}

    def body(fields: dict[str, object]) -> bytes:
        return json.dumps({**fields, **extra}).encode()

    return {
        "empty body": b"",
        "missing model": body({"messages": HI}),
        "model not a string": body({"model": 5, "messages": HI}),
        "missing messages": body({"model": model}),
        "messages not a list": body({"model": model, "messages": "hi"}),
        "messages of strings": body({"model": model, "messages": ["hi"]}),
        "invalid UTF-8": b'{"model": "' + model.encode() + b'", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
    }


CASES = [(route, name) for route in ROUTES for name in malformed(route)]


def post(proxy: Proxy, route: str, body: bytes) -> httpx.Response:
    headers = {**proxy.headers, "content-type": "application/json", "anthropic-version": "2023-06-01"}
    return httpx.post(f"{proxy.base_url}{ROUTES[route][0]}", content=body, headers=headers, timeout=30)


def error_shape(response: httpx.Response) -> tuple[int, object, object]:
    """(status, envelope type, error type): chat `{"error": {...}}`, messages `{"type": "error", "error": {...}}`."""
    data = response.json()
    return response.status_code, data.get("type"), data["error"]["type"]


@pytest.mark.parametrize(("route", "case"), CASES)
def test_a_malformed_request_gets_what_stock_litellm_answers(
    messages_proxy: MessagesProxy, stock_proxy: Proxy, route: str, case: str
) -> None:
    body = malformed(route)[case]
    expected = error_shape(post(stock_proxy, route, body))
    answered = post(messages_proxy, route, body)
    assert error_shape(answered) == expected, answered.text
    assert 400 <= answered.status_code < 500
    assert "x-luthien-transaction-id" not in answered.headers  # no transaction was opened
    assert "validation error" not in answered.text


def started_rows(proxy: MessagesProxy) -> int:
    with sqlite3.connect(proxy.database) as db:
        return int(db.execute("SELECT count(*) FROM transactions WHERE status = 'started'").fetchone()[0])


def test_six_hundred_bad_requests_leave_no_state_and_nothing_half_open(messages_proxy: MessagesProxy) -> None:
    marker = new_marker()
    # Passes the plugin's check, refused by LiteLLM after it (`/v1/messages` needs max_tokens): recorded `error`.
    late = json.dumps({"model": "anthropic-passthrough", "messages": [{"role": "user", "content": marker}]}).encode()
    requests = [(route, body) for route, case in CASES for body in [malformed(route)[case]]] + [("messages", late)]

    async def send_all() -> list[int]:
        limit = asyncio.Semaphore(16)
        headers = {**messages_proxy.headers, "content-type": "application/json", "anthropic-version": "2023-06-01"}
        async with httpx.AsyncClient(base_url=messages_proxy.base_url, headers=headers, timeout=60) as client:

            async def one(route: str, body: bytes) -> int:
                async with limit:
                    return (await client.post(ROUTES[route][0], content=body)).status_code

            return await asyncio.gather(*(one(*requests[i % len(requests)]) for i in range(600)))

    statuses = asyncio.run(send_all())
    assert all(400 <= status < 500 for status in statuses)
    late_ones = sum(1 for i in range(600) if requests[i % len(requests)][1] is late)
    recorded = recorded_transactions(messages_proxy, marker, late_ones)
    assert {messages_proxy.transaction_row(t)["status"] for t in recorded} == {"error"}
    report = httpx.post(
        f"{messages_proxy.base_url}/v1/chat/completions",
        headers=messages_proxy.headers,
        json={"model": "openai-report_open", "messages": HI},
        timeout=30,
    )
    assert report.status_code == 400  # a policy block
    found = re.search(r"open spans=(\d+) transactions=(\d+)", report.text)
    assert found is not None, report.text
    assert (int(found.group(1)), int(found.group(2))) == (1, 1)  # only the reporting request itself
    assert started_rows(messages_proxy) == 0


def recorded_transactions(proxy: MessagesProxy, marker: str, count: int, timeout: float = 30.0) -> set[str]:
    """The ids of the `count` transactions whose recorded request carries `marker`, once all are recorded."""
    deadline = time.monotonic() + timeout
    while True:
        found = {
            str(e["transaction_id"])
            for e in read_events(proxy.events_file)
            if e["event_type"] == "transaction.request_recorded" and marker in json.dumps(e["payload"])
        }
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, f"{len(found)} transactions carry {marker!r}, expected {count}"
            return found
        time.sleep(0.05)  # the proxy writes on its own schedule; bounded by the deadline
