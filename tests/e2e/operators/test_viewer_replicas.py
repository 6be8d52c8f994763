"""Two proxy replicas sharing one Postgres database, one Redis and one master key (the shape of
docker/compose.yaml): either replica's viewer shows everything both recorded, a session signed in
on one is valid on the other, and a transaction through one is announced live on the other."""

from __future__ import annotations

import re

import httpx
import openai
import pytest

from tests.e2e.operators.conftest import ViewerProxy

pytestmark = pytest.mark.e2e


def test_either_replica_shows_what_both_recorded_with_the_same_filters_and_diffs(
    replicas: tuple[ViewerProxy, ViewerProxy],
) -> None:
    first, second = replicas
    client = openai.OpenAI(base_url=f"{second.base_url}/v1", api_key=second.master_key, max_retries=0)
    via_second = client.chat.completions.with_raw_response.create(
        model="gpt-4o-agent", messages=[{"role": "user", "content": "through the second one scenario:tool_calls"}]
    ).headers["x-luthien-transaction-id"]
    first.find(via_second)
    for proxy in (first, second):
        rows = proxy.api("transactions", since="1h", limit="500").json()["transactions"]
        ids = {row["transaction_id"] for row in rows}
        assert set(first.ids.values()) | {via_second} <= ids
        blocked = {
            r["transaction_id"] for r in proxy.api("transactions", status="blocked", limit="500").json()["transactions"]
        }
        assert {first.ids["blocked_response"], first.ids["blocked_request"]} <= blocked
        messages = {
            r["transaction_id"] for r in proxy.api("transactions", api="messages", limit="500").json()["transactions"]
        }
        assert first.ids["tool_removed_messages"] in messages
        assert first.ids["tool_removed"] in {
            r["transaction_id"] for r in proxy.api("transactions", q="rm -rf", limit="500").json()["transactions"]
        }
        detail = proxy.api(f"transactions/{first.ids['blocked_response']}").json()
        bash = next(c for c in detail["diff"]["response"]["tool_calls"] if c["name"] == "bash")
        assert bash["state"] == "removed" and detail["transaction"]["status"] == "blocked"
        unchanged = proxy.api(f"transactions/{first.ids['unchanged']}").json()
        assert unchanged["diff"]["response"]["changed"] is False
        summary = proxy.api("summary", since="1h").json()
        assert summary["totals"]["transactions"] >= 10


def test_a_session_from_one_replica_opens_the_other(replicas: tuple[ViewerProxy, ViewerProxy]) -> None:
    first, second = replicas
    browser = httpx.Client(timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', browser.get(f"{first.viewer}/login").text)
    assert token is not None
    signed_in = browser.post(f"{first.viewer}/login", data={"csrf": token.group(1), "key": first.master_key})
    assert signed_in.status_code == 303
    session = signed_in.cookies["luthien_session"]
    on_second = httpx.get(f"{second.viewer}/api/facets", cookies={"luthien_session": session})
    assert on_second.status_code == 200 and "strict_tools" in on_second.json()["policies"]


def test_a_transaction_through_one_replica_is_announced_live_on_the_other(
    replicas: tuple[ViewerProxy, ViewerProxy],
) -> None:
    first, second = replicas
    start = first.api("changes").json()
    assert start["mode"] == "redis"
    client = openai.OpenAI(base_url=f"{second.base_url}/v1", api_key=second.master_key, max_retries=0)
    new_id = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "announce me"}]
    ).headers["x-luthien-transaction-id"]
    first.wait_for_announcement(start["cursor"], new_id)  # replica 1 hears of what replica 2 served
