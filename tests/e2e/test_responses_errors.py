"""The README's error table on /v1/responses through the real proxy: every error in the Responses format
(OpenAI JSON before the first byte, a `response.failed` event after it), what the openai SDK raises, and the
record."""

from __future__ import annotations

import httpx
import openai
import pytest

from luthien_litellm_plugin.types import JSONObject
from tests.e2e.messages_proxy import (
    MessagesProxy,
    Served,
    messages_fake,
    messages_proxy,
    new_marker,
    recorded_status,
    send_marked,
)
from tests.e2e.responses_proxy import post_responses, responses_body, sdk_client, valid_events
from tests.fakes.responses_upstream import STREAM_ERROR
from tests.fakes.scenarios import DISCONNECT_AFTER, TEXT, text_chunks

pytestmark = pytest.mark.e2e
__all__ = ["messages_fake", "messages_proxy"]  # the session fixtures this module uses

BACKENDS = ["openai", "anthropic"]


def send(proxy: MessagesProxy, model: str, text: str, stream: bool) -> tuple[Served, str]:
    """POST `/v1/responses` with a marker in the input; the response and its transaction's id."""
    return send_marked(
        proxy, text, lambda marked: post_responses(proxy, responses_body(model, marked, stream=stream, tools=False))
    )


def http_error(served: Served, status: int | None = None) -> JSONObject:
    """The `error` object of a non-200 JSON answer in OpenAI's format (`status`: the exact code)."""
    assert served.status_code != 200 and (status is None or served.status_code == status), served.body
    assert served.headers["content-type"].startswith("application/json")
    error = served.json()["error"]
    assert isinstance(error, dict) and isinstance(error["message"], str) and isinstance(error["type"], str)
    assert error["code"] == str(served.status_code)
    return error


def failed_event(served: Served) -> tuple[str, JSONObject]:
    """(text served before the failure, the `error` of its `response.failed`) of a 200 stream that failed."""
    assert served.status_code == 200, served.body
    events = valid_events(served.body)
    assert events[-1]["type"] == "response.failed" and [e["type"] for e in events].count("response.failed") == 1
    response = events[-1]["response"]
    assert isinstance(response, dict) and response["status"] == "failed"
    error = response["error"]
    assert isinstance(error, dict) and isinstance(error["code"], str) and isinstance(error["message"], str)
    before = "".join(str(e["delta"]) for e in events if e["type"] == "response.output_text.delta")
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


@pytest.mark.parametrize("stream", [False, True])
def test_sdk_raises_bad_request_for_a_blocked_request(messages_proxy: MessagesProxy, stream: bool) -> None:
    text = f"something forbidden {new_marker()}"
    with sdk_client(messages_proxy) as (client, _), pytest.raises(openai.BadRequestError) as raised:
        if stream:
            with client.responses.stream(model="openai-block_request", input=text) as events:
                events.get_final_response()
        else:
            client.responses.create(model="openai-block_request", input=text)
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


def test_sdk_raises_bad_request_for_a_stream_blocked_before_its_first_byte(messages_proxy: MessagesProxy) -> None:
    text = f"block-held please {new_marker()}"
    with (
        sdk_client(messages_proxy) as (client, _),
        pytest.raises(openai.BadRequestError, match="block_request"),
        client.responses.stream(model="anthropic-block_request", input=text) as events,
    ):
        events.get_final_response()


@pytest.mark.parametrize("backend", BACKENDS)
def test_blocking_after_bytes_went_out_is_a_response_failed_event(messages_proxy: MessagesProxy, backend: str) -> None:
    served, transaction_id = send(messages_proxy, f"{backend}-block_at_finish", "hi", stream=True)
    before, error = failed_event(served)
    assert before == TEXT  # the text went out before the refusal
    assert error["code"] == "policy_blocked" and "block_at_finish" in str(error["message"])
    status, reason = recorded_status(messages_proxy, transaction_id)
    assert status == "blocked" and "refused after the text was sent" in str(reason)


def test_what_the_sdk_does_with_a_response_failed_event(messages_proxy: MessagesProxy) -> None:
    with sdk_client(messages_proxy) as (client, _):
        events = list(client.responses.create(model="openai-block_at_finish", input=f"hi {new_marker()}", stream=True))
        assert events[-1].type == "response.failed"  # the raw stream yields it, and raises nothing
        assert "block_at_finish" in str(events[-1].response.error.message)  # type: ignore[union-attr]
        with (
            pytest.raises(RuntimeError, match=r"response\.completed"),
            client.responses.stream(model="openai-block_at_finish", input=f"hi {new_marker()}") as stream,
        ):
            stream.get_final_response()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_policy_exception_fails_closed(messages_proxy: MessagesProxy, backend: str, stream: bool) -> None:
    served, transaction_id = send(messages_proxy, f"{backend}-broken", "hi", stream)
    error = http_error(served, 500)  # the broken policy holds the text: nothing went out before it failed
    assert "broken" in str(error["message"]) and error["type"] == "internal_server_error"
    assert b"quick brown" not in served.body
    status, reason = recorded_status(messages_proxy, transaction_id)
    assert status == "error" and "policy bug" in str(reason)


def test_a_policy_exception_after_events_went_out_is_response_failed(messages_proxy: MessagesProxy) -> None:
    # The reasoning item goes out as it comes; the broken policy then fails on the text it held.
    served, transaction_id = send(messages_proxy, "openai-broken", "scenario:thinking", stream=True)
    before, error = failed_event(served)
    assert before == "" and b"quick brown" not in served.body
    assert b'"type":"response.reasoning_summary_text.delta"' in served.body
    assert error["code"] == "server_error" and "broken" in str(error["message"])
    status, reason = recorded_status(messages_proxy, transaction_id)
    assert status == "error" and "policy bug" in str(reason)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_upstream_500_is_an_openai_error_and_recorded(
    messages_proxy: MessagesProxy, backend: str, stream: bool
) -> None:
    served, transaction_id = send(messages_proxy, f"{backend}-passthrough", "scenario:error_500", stream)
    assert served.status_code == 500 and "error" in served.json(), served.body
    status, _ = recorded_status(messages_proxy, transaction_id)
    assert status == "error"


@pytest.mark.parametrize("scenario", ["error_event", "failed"])
def test_upstream_error_events_reach_the_client_as_response_failed(
    messages_proxy: MessagesProxy, scenario: str
) -> None:
    served, transaction_id = send(messages_proxy, "openai-passthrough", f"scenario:{scenario}", stream=True)
    before, error = failed_event(served)
    assert before == "".join(text_chunks()[:DISCONNECT_AFTER])
    assert (error["code"], error["message"]) == (STREAM_ERROR["code"], STREAM_ERROR["message"])  # the upstream's own
    status, reason = recorded_status(messages_proxy, transaction_id)
    assert status == "error" and "overloaded" in str(reason)


def test_an_anthropic_error_event_reaches_the_client_as_response_failed(messages_proxy: MessagesProxy) -> None:
    served, transaction_id = send(messages_proxy, "anthropic-passthrough", "scenario:error_event", stream=True)
    before, error = failed_event(served)
    assert before == "".join(text_chunks()[:DISCONNECT_AFTER]) and "Overloaded" in str(error["message"])
    status, _ = recorded_status(messages_proxy, transaction_id)
    assert status == "error"


@pytest.mark.parametrize("backend", BACKENDS)
def test_upstream_idle_past_the_timeout_ends_with_response_failed(messages_proxy: MessagesProxy, backend: str) -> None:
    served, transaction_id = send(messages_proxy, f"{backend}-passthrough", "scenario:hang", stream=True)
    before, error = failed_event(served)
    assert before == "".join(text_chunks()[: DISCONNECT_AFTER - 1])
    assert "idle" in str(error["message"])
    status, _ = recorded_status(messages_proxy, transaction_id)
    assert status == "timeout"


@pytest.mark.parametrize("backend", BACKENDS)
def test_upstream_cut_mid_stream_is_response_failed_not_a_cut_connection(
    messages_proxy: MessagesProxy, backend: str
) -> None:
    # Paced writes, so the proxy served the first events before the cut (see the /v1/messages twin).
    served, transaction_id = send(
        messages_proxy, f"{backend}-passthrough", "scenario:disconnect chunk_delay_ms:50", True
    )
    before, _ = failed_event(served)
    assert TEXT.startswith(before) and before
    status, _ = recorded_status(messages_proxy, transaction_id)
    assert status == "error"


@pytest.mark.parametrize("backend", BACKENDS)
def test_client_disconnect_is_recorded_cancelled(messages_proxy: MessagesProxy, backend: str) -> None:
    marker = new_marker()
    body = responses_body(
        f"{backend}-passthrough", f"scenario:text chunk_delay_ms:200 chunks:20 {marker}", stream=True, tools=False
    )
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", f"{messages_proxy.base_url}/v1/responses", headers=messages_proxy.headers, json=body
        ) as response,
    ):
        assert response.status_code == 200
        transaction_id = response.headers["x-luthien-transaction-id"]
        lines = response.iter_lines()
        assert next(lines).startswith('data: {"type":"response.created"')
    status, _ = recorded_status(messages_proxy, transaction_id)
    assert status == "cancelled"
    upstream = messages_proxy.upstream_request(marker)
    assert upstream.finished.wait(15) and upstream.outcome == "client_disconnected"  # the upstream call was cut too
