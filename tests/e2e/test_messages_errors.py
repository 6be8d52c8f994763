"""The README's error table on /v1/messages through the real proxy: every error in Anthropic's format, and the
record."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from luthien_litellm_plugin.streaming.anthropic_validator import validate_anthropic_stream
from tests.anthropic_streams import accumulate, parse, text_of
from tests.e2e.messages_proxy import (
    MessagesProxy,
    Served,
    messages_body,
    messages_fake,
    messages_proxy,
    new_marker,
    post_raw,
    recorded_status,
    sdk_client,
    send_marked,
)
from tests.fakes.scenarios import DISCONNECT_AFTER, TEXT, text_chunks

pytestmark = pytest.mark.e2e
__all__ = ["messages_fake", "messages_proxy"]  # the session fixtures this module uses

BACKENDS = ["anthropic", "openai"]


def send(proxy: MessagesProxy, model: str, text: str, stream: bool) -> tuple[Served, str]:
    """POST `/v1/messages` with a marker in the message; the response and its transaction's id."""
    return send_marked(
        proxy, text, lambda marked: post_raw(proxy, messages_body(model, marked, stream=stream, tools=False))
    )


def http_error(served: Served, status: int | None = None) -> dict[str, object]:
    """The `error` object of a non-200 JSON answer in Anthropic's envelope (`status`: the exact code)."""
    assert served.status_code != 200 and (status is None or served.status_code == status), served.body
    assert served.headers["content-type"].startswith("application/json")
    data = served.json()
    assert data["type"] == "error", data
    error = data["error"]
    assert isinstance(error, dict) and isinstance(error["type"], str) and isinstance(error["message"], str)
    return error


def error_frame(served: Served) -> tuple[str, dict[str, object]]:
    """(text served before the error, the `error` object) of a 200 stream that ends in `event: error`."""
    assert served.status_code == 200, served.body
    events = parse(served.body)
    assert validate_anthropic_stream(events) == []
    assert events[-1].event == "error" and [e.event for e in events[:-1]].count("error") == 0
    data = events[-1].json()
    assert data["type"] == "error", data
    error = data["error"]
    assert isinstance(error, dict) and isinstance(error["type"], str) and isinstance(error["message"], str)
    before = text_of(accumulate(b"".join(e.raw for e in events[:-1])))
    return before, error


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_blocked_request_is_a_400_policy_blocked_naming_the_policy(
    messages_proxy: MessagesProxy, backend: str, stream: bool
) -> None:
    served, transaction_id = send(messages_proxy, f"{backend}-block_request", "something forbidden", stream)
    error = http_error(served, 400)
    assert error["type"] == "policy_blocked"
    assert "block_request" in str(error["message"]) and "forbidden" in str(error["message"])
    assert all("forbidden" not in str(r.body) for r in messages_proxy.fake.requests)  # never reached the upstream
    status, reason = recorded_status(messages_proxy, transaction_id)
    assert status == "blocked" and "forbidden" in str(reason)


def test_sdk_raises_bad_request_for_a_blocked_request(messages_proxy: MessagesProxy) -> None:
    messages = [{"role": "user", "content": f"something forbidden {new_marker()}"}]
    with sdk_client(messages_proxy) as (client, _), pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(model="anthropic-block_request", max_tokens=256, messages=messages)
    assert "block_request" in str(raised.value)


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
def test_blocking_a_held_response_before_any_byte_is_a_real_http_error(
    messages_proxy: MessagesProxy, backend: str, stream: bool
) -> None:
    served, transaction_id = send(messages_proxy, f"{backend}-block_request", "block-held please", stream)
    error = http_error(served, 400)
    assert error["type"] == "policy_blocked"
    assert "block_request" in str(error["message"]) and "mentions the upstream" in str(error["message"])
    assert b"quick brown" not in served.body  # none of the held text leaked
    status, _ = recorded_status(messages_proxy, transaction_id)
    assert status == "blocked"


@pytest.mark.parametrize("backend", BACKENDS)
def test_blocking_after_bytes_went_out_is_an_error_event(messages_proxy: MessagesProxy, backend: str) -> None:
    served, transaction_id = send(messages_proxy, f"{backend}-block_at_finish", "hi", stream=True)
    before, error = error_frame(served)
    assert before == TEXT  # the text went out before the refusal
    assert error["type"] == "policy_blocked" and "block_at_finish" in str(error["message"])
    status, reason = recorded_status(messages_proxy, transaction_id)
    assert status == "blocked" and "refused after the text was sent" in str(reason)


def test_sdk_raises_on_an_error_event(messages_proxy: MessagesProxy) -> None:
    messages = [{"role": "user", "content": f"hi {new_marker()}"}]
    with (
        sdk_client(messages_proxy) as (client, _),
        pytest.raises(anthropic.APIError) as raised,
        client.messages.stream(model="anthropic-block_at_finish", max_tokens=256, messages=messages) as stream,
    ):
        stream.get_final_message()
    assert "block_at_finish" in str(raised.value)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_policy_exception_fails_closed(messages_proxy: MessagesProxy, backend: str, stream: bool) -> None:
    served, transaction_id = send(messages_proxy, f"{backend}-broken", "hi", stream)
    if served.status_code == 200:  # a stream that had started: an in-band error, nothing of the text
        assert stream
        before, error = error_frame(served)
        assert before == ""
    else:
        error = http_error(served, 500)
    assert "broken" in str(error["message"])
    assert b"quick brown" not in served.body
    status, reason = recorded_status(messages_proxy, transaction_id)
    assert status == "error" and "policy bug" in str(reason)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_upstream_500_is_an_anthropic_error_and_recorded(
    messages_proxy: MessagesProxy, backend: str, stream: bool
) -> None:
    served, transaction_id = send(messages_proxy, f"{backend}-passthrough", "scenario:error_500", stream)
    http_error(served, 500)
    status, _ = recorded_status(messages_proxy, transaction_id)
    assert status == "error"


def test_upstream_error_event_reaches_the_client_as_an_error_event(messages_proxy: MessagesProxy) -> None:
    served, transaction_id = send(messages_proxy, "anthropic-passthrough", "scenario:error_event", stream=True)
    before, error = error_frame(served)
    assert before == "".join(text_chunks()[:DISCONNECT_AFTER])
    assert (error["type"], error["message"]) == ("overloaded_error", "Overloaded")  # the upstream's own error
    status, reason = recorded_status(messages_proxy, transaction_id)
    assert status == "error" and "overloaded_error" in str(reason)


def test_upstream_overloaded_without_streaming_is_an_anthropic_error(messages_proxy: MessagesProxy) -> None:
    served, transaction_id = send(messages_proxy, "anthropic-passthrough", "scenario:error_event", stream=False)
    error = http_error(served)
    assert served.status_code >= 500 and "overloaded_error" in str(error["message"])
    status, reason = recorded_status(messages_proxy, transaction_id)
    assert status == "error" and "overloaded_error" in str(reason)


@pytest.mark.parametrize("backend", BACKENDS)
def test_upstream_idle_past_the_timeout_ends_with_a_timeout_error_event(
    messages_proxy: MessagesProxy, backend: str
) -> None:
    served, transaction_id = send(messages_proxy, f"{backend}-passthrough", "scenario:hang", stream=True)
    before, error = error_frame(served)
    assert before == "".join(text_chunks()[: DISCONNECT_AFTER - 1])
    assert "idle" in str(error["message"])
    status, _ = recorded_status(messages_proxy, transaction_id)
    assert status == "timeout"


@pytest.mark.parametrize("backend", BACKENDS)
def test_upstream_cut_mid_stream_is_an_error_event_not_a_cut_connection(
    messages_proxy: MessagesProxy, backend: str
) -> None:
    # Paced writes: the proxy has read (and served) the first events before the cut. Unpaced, the whole
    # body and the cut can arrive before LiteLLM's first read, and its HTTP client then raises without
    # returning the buffered bytes: the client gets an HTTP 500 instead (correct too, but not this case).
    text = "scenario:disconnect chunk_delay_ms:50"
    served, transaction_id = send(messages_proxy, f"{backend}-passthrough", text, stream=True)
    before, _ = error_frame(served)
    assert TEXT.startswith(before)
    status, _ = recorded_status(messages_proxy, transaction_id)
    assert status == "error"


@pytest.mark.parametrize("backend", BACKENDS)
def test_client_disconnect_is_recorded_cancelled(messages_proxy: MessagesProxy, backend: str) -> None:
    marker = new_marker()
    body = messages_body(
        f"{backend}-passthrough", f"scenario:text chunk_delay_ms:200 chunks:20 {marker}", stream=True, tools=False
    )
    url = f"{messages_proxy.base_url}/v1/messages"
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", url, headers=messages_proxy.anthropic_headers, json=body) as response,
    ):
        assert response.status_code == 200
        transaction_id = response.headers["x-luthien-transaction-id"]
        lines = response.iter_lines()
        assert next(lines) == "event: message_start"
        assert next(lines).startswith("data: ")
    status, _ = recorded_status(messages_proxy, transaction_id)
    assert status == "cancelled"
    upstream = messages_proxy.upstream_request(marker)
    assert upstream.finished.wait(15) and upstream.outcome == "client_disconnected"  # the upstream call was cut too
