"""LuthienCallback's hooks called as LiteLLM Proxy calls them: identity, state, cleanup."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable

import pytest
from fastapi import HTTPException
from litellm.exceptions import ModifyResponseException
from litellm.proxy._types import ProxyException, UserAPIKeyAuth
from litellm.types.utils import ModelResponse

from luthien_litellm_plugin.events import (
    TRANSACTION_COMPLETED,
    TRANSACTION_REQUEST_RECORDED,
    InMemoryEventSink,
    RecordedEvent,
)
from luthien_litellm_plugin.proxy.plugin import LuthienCallback
from luthien_litellm_plugin.proxy.settings import load_plugin_config
from luthien_litellm_plugin.types import RequestMessage
from tests.streams import chunk, iterate

KEY = UserAPIKeyAuth()
CONFIG = {
    "policies": {
        "shout": {"class": "all_caps"},
        "no_shell": {"class": "block_tools", "options": {"tools": ["bash"], "block_response": True}},
    }
}


def plugin() -> tuple[LuthienCallback, InMemoryEventSink]:
    sink = InMemoryEventSink()
    return LuthienCallback(load_plugin_config(CONFIG), {"loud": "shout", "safe": "no_shell"}, sink), sink


def data(model: str, content: str = "hi", **extra: object) -> dict[str, object]:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return {**copy.deepcopy(body), "proxy_server_request": {"body": body, "headers": {}}, "metadata": {}}


def statuses(sink: InMemoryEventSink) -> list[object]:
    return [e.payload["status"] for e in sink.of_type(TRANSACTION_COMPLETED)]


def assert_clean(callback: LuthienCallback) -> None:
    assert all(o.open_transactions == 0 for o in callback.orchestrators.values())


async def test_non_streaming_request_gets_its_own_id_policy_and_cleanup() -> None:
    callback, sink = plugin()
    request = data("loud")
    request["metadata"] = {"luthien_transaction_id": "forged", "luthien_policy": "passthrough"}
    request["litellm_call_id"] = "client-chosen-id"
    await callback.async_pre_call_hook(KEY, None, request, "acompletion")
    metadata = request["metadata"]
    assert isinstance(metadata, dict)
    assert metadata["luthien_policy"] == "shout" and metadata["luthien_transaction_id"] != "forged"
    headers = await callback.async_post_call_response_headers_hook(request, KEY, None)
    assert headers == {"x-luthien-transaction-id": metadata["luthien_transaction_id"]}
    response = ModelResponse(choices=[{"message": {"role": "assistant", "content": "quiet"}, "finish_reason": "stop"}])
    final = await callback.async_post_call_success_hook(request, KEY, response)
    assert isinstance(final, ModelResponse) and final.choices[0].message.content == "QUIET"  # type: ignore[union-attr]
    assert response.choices[0].message.content == "quiet"  # type: ignore[union-attr]
    assert statuses(sink) == ["success"]
    assert sink.of_type(TRANSACTION_COMPLETED)[0].payload["call_id"] == "client-chosen-id"
    assert {e.transaction_id for e in sink.events} == {metadata["luthien_transaction_id"]}
    assert_clean(callback)


async def test_streaming_hook_runs_the_policy_and_cleans_up() -> None:
    callback, sink = plugin()
    request = data("loud", stream=True)
    await callback.async_pre_call_hook(KEY, None, request, "acompletion")
    chunks = [chunk("a", role="assistant"), chunk("b"), chunk(finish_reason="stop")]
    served = [c async for c in callback.async_post_call_streaming_iterator_hook(KEY, iterate(chunks), request)]
    assert "".join(c.choices[0].delta.content or "" for c in served) == "AB"
    assert statuses(sink) == ["success"]
    assert_clean(callback)


async def test_client_leaving_mid_stream_is_recorded_cancelled_and_cleaned_up() -> None:
    callback, sink = plugin()
    request = data("unknown-group-uses-default", stream=True)
    await callback.async_pre_call_hook(KEY, None, request, "acompletion")
    stream = callback.async_post_call_streaming_iterator_hook(
        KEY, iterate([chunk("a", role="assistant"), chunk("b")]), request
    )
    await anext(stream)
    await stream.aclose()
    assert statuses(sink) == ["cancelled"]
    assert_clean(callback)


def refusing(callback: LuthienCallback) -> None:
    """Make the `no_shell` policy block every request."""
    policy = callback.config.policies["no_shell"]

    async def refuse(*args: object) -> object:
        policy.block("no requests today")

    policy.on_request = refuse  # type: ignore[method-assign]


async def test_blocked_request_raises_a_400_policy_blocked_naming_the_policy_and_cleans_up() -> None:
    callback, sink = plugin()
    refusing(callback)
    with pytest.raises(HTTPException) as raised:
        await callback.async_pre_call_hook(KEY, None, data("safe"), "acompletion")
    assert raised.value.status_code == 400
    assert getattr(raised.value, "type", None) == "policy_blocked"  # LiteLLM's OpenAI-format `error.type`
    assert raised.value.detail == {
        "error": "Blocked by policy 'no_shell': no requests today",
        "type": "PolicyBlockedError",
        "policy": "no_shell",
    }
    assert statuses(sink) == ["blocked"]
    assert_clean(callback)


async def test_blocked_request_in_message_mode_is_answered_by_an_assistant_message() -> None:
    config = load_plugin_config({**CONFIG, "blocked_request_response": "message"})
    sink = InMemoryEventSink()
    callback = LuthienCallback(config, {"safe": "no_shell"}, sink)
    refusing(callback)
    request = data("safe")
    with pytest.raises(ModifyResponseException) as raised:  # LiteLLM answers 200 with its message
        await callback.async_pre_call_hook(KEY, None, request, "acompletion")
    assert raised.value.message == "Blocked by policy 'no_shell': no requests today"
    assert (raised.value.model, raised.value.request_data) == ("safe", request)
    assert statuses(sink) == ["blocked"]
    assert_clean(callback)


async def test_failure_hook_records_the_error_once() -> None:
    callback, sink = plugin()
    request = data("loud")
    await callback.async_pre_call_hook(KEY, None, request, "acompletion")
    await callback.async_post_call_failure_hook(request, ValueError("upstream down"), KEY)
    await callback.async_post_call_failure_hook(request, ValueError("again"), KEY)
    assert statuses(sink) == ["error"]
    assert sink.of_type(TRANSACTION_COMPLETED)[0].payload["error"] == "ValueError: upstream down"
    assert_clean(callback)


async def test_unmarked_requests_pass_untouched() -> None:
    callback, sink = plugin()
    request = data("loud")
    response = ModelResponse(choices=[{"message": {"role": "assistant", "content": "quiet"}}])
    assert await callback.async_post_call_success_hook(request, KEY, response) is response
    assert sink.events == []


async def test_policy_changes_to_the_request_reach_the_upstream_data_in_place() -> None:
    callback, _ = plugin()
    policy = callback.config.policies["shout"]

    async def rewrite(request, context):  # type: ignore[no-untyped-def]
        return request.model_copy(update={"messages": [{"role": "user", "content": "rewritten"}]})

    policy.on_request = rewrite  # type: ignore[method-assign]
    request = data("loud")
    await callback.async_pre_call_hook(KEY, None, request, "acompletion")
    assert request["messages"] == [{"role": "user", "content": "rewritten"}]
    body = request["proxy_server_request"]
    assert isinstance(body, dict) and body["body"]["messages"] == [{"role": "user", "content": "hi"}]


def litellm_data(body: dict[str, object]) -> dict[str, object]:
    """`data` as LiteLLM hands it to the hook: its `proxy_server_request.body` is a shallow copy,
    so both share every list and dict of the request."""
    return {**body, "proxy_server_request": {"body": dict(body), "headers": {}}, "metadata": {}}


def edit_content_in_place(request: RequestMessage) -> None:
    request.messages[0]["content"] = "edited"


def assign_messages(request: RequestMessage) -> None:
    request.messages = [{"role": "user", "content": "edited"}]


def assign_extra_field(request: RequestMessage) -> None:
    request.messages = [{"role": "user", "content": "edited"}]
    request.temperature = 0  # type: ignore[attr-defined]  # an extra field, as `tools` or `max_tokens`


@pytest.mark.parametrize("edit", [edit_content_in_place, assign_messages, assign_extra_field])
@pytest.mark.parametrize(
    ("call_type", "body"),
    [
        ("acompletion", {"model": "loud", "messages": [{"role": "user", "content": "hi"}]}),
        ("anthropic_messages", {"model": "loud", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 9}),
        ("aresponses", {"model": "loud", "input": "hi"}),
        ("aresponses", {"model": "loud", "input": [{"role": "user", "content": "hi"}]}),
    ],
)
async def test_a_policy_editing_the_request_in_place_is_obeyed_and_the_record_keeps_what_the_client_sent(
    edit: Callable[[RequestMessage], None], call_type: str, body: dict[str, object]
) -> None:
    callback, sink = plugin()

    async def edit_and_return_it(request: RequestMessage, context: object) -> RequestMessage:
        edit(request)
        return request

    callback.config.policies["shout"].on_request = edit_and_return_it  # type: ignore[method-assign]
    data = litellm_data(copy.deepcopy(body))
    await callback.async_pre_call_hook(KEY, None, data, call_type)
    sent = data["input" if call_type == "aresponses" else "messages"]
    assert sent == [{"role": "user", "content": "edited"}], "what goes upstream is what the policy made"
    if edit is assign_extra_field:
        assert data["temperature"] == 0
    [recorded] = sink.of_type(TRANSACTION_REQUEST_RECORDED)
    original, final = recorded.payload["original_request"], recorded.payload["final_request"]
    assert isinstance(original, dict) and isinstance(final, dict)
    assert original["messages"] == [{"role": "user", "content": "hi"}], "the record keeps what the client sent"
    assert final["messages"] == [{"role": "user", "content": "edited"}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "messages"),  # what LiteLLM hands the hook for an empty, unparsable or invalid-UTF-8 body
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "loud", "messages": "hi"}, "messages"),
        ({"model": "loud", "messages": ["hi"]}, "messages"),
        ({"model": "loud"}, "messages"),
    ],
)
@pytest.mark.parametrize("call_type", ["acompletion", "anthropic_messages"])
async def test_a_malformed_request_is_a_400_that_opens_nothing(
    body: dict[str, object], param: str, call_type: str
) -> None:
    callback, sink = plugin()
    request: dict[str, object] = {**body, "proxy_server_request": {"body": body, "headers": {}}, "metadata": {}}
    for _ in range(600):
        with pytest.raises(ProxyException) as raised:
            await callback.async_pre_call_hook(KEY, None, request, call_type)
    assert (raised.value.code, raised.value.type, raised.value.param) == ("400", "invalid_request_error", param)
    assert await callback.async_post_call_response_headers_hook(request, KEY, None) is None  # no transaction id
    assert sink.events == []
    assert_clean(callback)


class BrokenRequestRecording(InMemoryEventSink):
    """A sink whose request event fails: an unexpected (non-policy) error inside the request hook."""

    def submit(self, event: RecordedEvent) -> None:
        if event.event_type == TRANSACTION_REQUEST_RECORDED:
            raise RuntimeError("recording bug")
        super().submit(event)


async def test_an_unexpected_error_in_the_request_hook_ends_the_transaction_as_error() -> None:
    sink = BrokenRequestRecording()
    callback = LuthienCallback(load_plugin_config(CONFIG), {"loud": "shout"}, sink)
    with pytest.raises(RuntimeError, match="recording bug"):
        await callback.async_pre_call_hook(KEY, None, data("loud"), "acompletion")
    assert statuses(sink) == ["error"]
    assert_clean(callback)


async def test_a_request_cancelled_in_the_request_hook_is_recorded_cancelled() -> None:
    callback, sink = plugin()

    async def cancelled(*args: object) -> object:
        raise asyncio.CancelledError

    callback.orchestrators["shout"].policy.on_request = cancelled  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await callback.async_pre_call_hook(KEY, None, data("loud"), "acompletion")
    assert statuses(sink) == ["cancelled"]
    assert_clean(callback)
