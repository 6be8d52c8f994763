"""The README's error table through the real proxy: what the client sees when things go wrong, and the record."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.conftest import Proxy, completed
from tests.e2e.sse import stream_chat
from tests.fakes.upstream import TEXT
from tests.streams import served_text

pytestmark = pytest.mark.e2e


def chat(model: str, content: str) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": content}]}


def recorded_status(proxy: Proxy, transaction_id: str) -> tuple[object, object]:
    done = completed(proxy.events(transaction_id))
    row = proxy.transaction_row(transaction_id)
    assert (row["status"], row["error"]) == (done["status"], done["error"])
    return done["status"], done["error"]


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [False, True])
def test_blocked_request_is_a_4xx_naming_the_policy(proxy: Proxy, backend: str, stream: bool) -> None:
    response = httpx.post(
        f"{proxy.base_url}/v1/chat/completions",
        headers=proxy.headers,
        json={**chat(f"{backend}-block_request", "something forbidden"), "stream": stream},
        timeout=30,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "policy_blocked"
    assert "block_request" in error["message"] and "forbidden" in error["message"]
    assert proxy.upstream.requests == [] or all("forbidden" not in str(r["body"]) for r in proxy.upstream.requests)


def test_blocking_a_held_stream_before_any_byte_is_a_real_http_error(proxy: Proxy) -> None:
    with httpx.Client(timeout=30) as client:
        served = stream_chat(client, proxy.base_url, proxy.headers, chat("openai-block_request", "block-held please"))
    assert served.status_code == 400
    error = json.loads(served.body)["error"]
    assert error["type"] == "policy_blocked"
    assert "block_request" in error["message"] and "mentions the upstream" in error["message"]


def test_blocking_after_bytes_went_out_is_an_in_band_error_frame(proxy: Proxy) -> None:
    with httpx.Client(timeout=30) as client:
        served = stream_chat(client, proxy.base_url, proxy.headers, chat("openai-block_at_finish", "hi"))
    assert served.status_code == 200
    assert served_text(served.chunks) == TEXT  # the text went out before the refusal
    assert len(served.errors) == 1 and "block_at_finish" in str(served.errors[0]["message"])
    status, error = recorded_status(proxy, served.headers["x-luthien-transaction-id"])
    assert status == "blocked" and "refused after the text was sent" in str(error)


@pytest.mark.parametrize("stream", [False, True])
def test_a_policy_exception_fails_closed(proxy: Proxy, stream: bool) -> None:
    if stream:
        with httpx.Client(timeout=30) as client:
            served = stream_chat(client, proxy.base_url, proxy.headers, chat("openai-broken", "hi"))
        assert served.status_code == 500 and "broken" in served.body and served.chunks == []
        return
    response = httpx.post(
        f"{proxy.base_url}/v1/chat/completions", headers=proxy.headers, json=chat("openai-broken", "hi"), timeout=30
    )
    assert response.status_code == 500
    assert "broken" in response.json()["error"]["message"]
    assert "Hello" not in response.text


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_error_reaches_the_client_and_is_recorded(proxy: Proxy, stream: bool) -> None:
    payload = {**chat("openai-passthrough", "scenario:error_500"), "stream": stream}
    response = httpx.post(f"{proxy.base_url}/v1/chat/completions", headers=proxy.headers, json=payload, timeout=30)
    assert response.status_code == 500
    transaction_id = response.headers["x-luthien-transaction-id"]
    status, error = recorded_status(proxy, transaction_id)
    assert status == "error" and "exploded" in str(error)


def test_upstream_idle_past_the_timeout_ends_the_stream_with_a_timeout_error(proxy: Proxy) -> None:
    with httpx.Client(timeout=30) as client:
        served = stream_chat(client, proxy.base_url, proxy.headers, chat("openai-passthrough", "scenario:hang"))
    assert served.status_code == 200 and len(served.errors) == 1
    assert "idle" in str(served.errors[0]["message"])
    status, _ = recorded_status(proxy, served.headers["x-luthien-transaction-id"])
    assert status == "timeout"


def test_upstream_cut_mid_stream_gives_an_error_frame_not_a_cut_connection(proxy: Proxy) -> None:
    with httpx.Client(timeout=30) as client:
        served = stream_chat(client, proxy.base_url, proxy.headers, chat("openai-passthrough", "scenario:disconnect"))
    assert served.status_code == 200 and len(served.errors) == 1
    status, _ = recorded_status(proxy, served.headers["x-luthien-transaction-id"])
    assert status == "error"


def test_client_disconnect_is_recorded_cancelled(proxy: Proxy) -> None:
    payload = {**chat("openai-passthrough", "scenario:slow delay_ms:300"), "stream": True}
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{proxy.base_url}/v1/chat/completions", headers=proxy.headers, json=payload) as response,
    ):
        transaction_id = response.headers["x-luthien-transaction-id"]
        first = next(response.iter_lines())
        assert first.startswith("data: ")
    status, _ = recorded_status(proxy, transaction_id)
    assert status == "cancelled"
