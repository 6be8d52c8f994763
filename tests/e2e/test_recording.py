"""A transaction through the proxy lands in its database and on the Redis live feed, secrets absent."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import redis

from tests.e2e.conftest import E2E_REDIS_URL, Proxy
from tests.integration.conftest import require_service

pytestmark = pytest.mark.e2e


def feed_events(transaction_id: str, timeout: float = 15.0) -> list[dict[str, object]]:
    client = redis.Redis.from_url(E2E_REDIS_URL)
    deadline = time.monotonic() + timeout
    try:
        while True:
            found = [json.loads(fields[b"event"]) for _, fields in client.xrange("luthien:events")]
            mine = [e for e in found if e["transaction_id"] == transaction_id]
            if any(e["event_type"] == "transaction.completed" for e in mine) or time.monotonic() > deadline:
                return mine
            time.sleep(0.05)  # the proxy's writer flushes on its own schedule; bounded by the deadline
    finally:
        client.close()


def test_a_transaction_is_in_the_database_and_on_the_live_feed_without_secrets(proxy: Proxy) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    body = {
        "model": "openai-all_caps",
        "messages": [{"role": "user", "content": "hi"}],
        "api_key": "sk-client-body-secret",
    }
    headers = {**proxy.headers, "x-api-key": "sk-client-header-secret"}
    response = httpx.post(f"{proxy.base_url}/v1/chat/completions", headers=headers, json=body, timeout=30)
    assert response.status_code == 200
    transaction_id = response.headers["x-luthien-transaction-id"]
    row = proxy.transaction_row(transaction_id)
    assert row["status"] == "success"
    assert json.loads(str(row["original_request"])).get("api_key") in (None, "[redacted]")
    events = feed_events(transaction_id)
    assert [e["event_type"] for e in events][-1] == "transaction.completed"
    recorded = json.dumps([row, events, proxy.events(transaction_id)], default=str)
    for secret in ("sk-client-body-secret", "sk-client-header-secret", "sk-upstream-secret", proxy.master_key):
        assert secret not in recorded
