"""LuthienCallback on `/v1/messages` (call type `anthropic_messages`): SSE bytes and message dicts."""

from __future__ import annotations

import copy
import json

import pytest

from luthien_litellm_plugin.events import TRANSACTION_REQUEST_RECORDED
from luthien_litellm_plugin.proxy.client_errors import StreamError
from luthien_litellm_plugin.streaming.anthropic_validator import validate_anthropic_stream
from tests.anthropic_streams import accumulate, cut, items, parse, text_of, upstream_events
from tests.fakes.anthropic_upstream import anthropic_message
from tests.fakes.common import Ids
from tests.fakes.scenarios import TEXT, build_scenario, parse_options
from tests.unit.proxy.test_plugin import KEY, assert_clean, plugin, statuses


def messages_data(model: str, content: str = "hi", **extra: object) -> dict[str, object]:
    body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": content}], **extra}
    return {
        **copy.deepcopy(body),
        "metadata": {"user_id": "client-user"},
        "litellm_metadata": {},
        "proxy_server_request": {"body": body, "headers": {}},
    }


def message(scenario: str) -> dict[str, object]:
    body = {"messages": [{"role": "user", "content": f"scenario:{scenario}"}]}
    return anthropic_message(build_scenario(parse_options(body), "anthropic"), Ids("m"), "claude-test")


async def test_marks_go_to_litellm_metadata_and_the_anthropic_metadata_stays_clean() -> None:
    callback, _ = plugin()
    request = messages_data("loud", metadata={"user_id": "u", "luthien_transaction_id": "forged"})
    request["metadata"] = {"user_id": "u", "luthien_transaction_id": "forged", "luthien_policy": "passthrough"}
    await callback.async_pre_call_hook(KEY, None, request, "anthropic_messages")
    assert request["metadata"] == {"user_id": "u"}, "our keys never go upstream in Anthropic's metadata"
    litellm_metadata = request["litellm_metadata"]
    assert isinstance(litellm_metadata, dict)
    assert litellm_metadata["luthien_policy"] == "shout" and litellm_metadata["luthien_api"] == "messages"
    headers = await callback.async_post_call_response_headers_hook(request, KEY, None)
    assert headers == {"x-luthien-transaction-id": litellm_metadata["luthien_transaction_id"]}
    await callback.async_post_call_failure_hook(request, RuntimeError("cleanup"), KEY)
    assert_clean(callback)


async def test_streamed_messages_run_the_policy_over_sse_bytes() -> None:
    callback, sink = plugin()
    request = messages_data("loud", stream=True)
    await callback.async_pre_call_hook(KEY, None, request, "anthropic_messages")
    reads = cut(upstream_events("thinking"))
    served = [item async for item in callback.async_post_call_streaming_iterator_hook(KEY, items(reads), request)]
    assert all(isinstance(item, bytes) for item in served)
    body = b"".join(item for item in served if isinstance(item, bytes))
    assert validate_anthropic_stream(parse(body)) == []
    assert text_of(accumulate(body)) == TEXT.upper()
    assert statuses(sink) == ["success"]
    [recorded_request] = sink.of_type(TRANSACTION_REQUEST_RECORDED)
    assert recorded_request.payload["api"] == "messages"
    assert_clean(callback)


async def test_a_failure_after_the_stream_started_ends_with_an_anthropic_error_frame() -> None:
    callback, sink = plugin()
    request = messages_data("unknown-group-uses-default", stream=True)
    await callback.async_pre_call_hook(KEY, None, request, "anthropic_messages")
    reads = cut(upstream_events("error_event"))
    served = [item async for item in callback.async_post_call_streaming_iterator_hook(KEY, items(reads), request)]
    events = parse(b"".join(item for item in served if isinstance(item, bytes)))
    assert events[0].event == "message_start"
    assert events[-1].event == "error"
    assert json.loads(events[-1].data) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert statuses(sink) == ["error"]
    assert_clean(callback)


async def test_complete_messages_are_edited_in_place_and_unchanged_ones_returned_as_received() -> None:
    callback, sink = plugin()
    request = messages_data("unknown-group-uses-default")
    await callback.async_pre_call_hook(KEY, None, request, "anthropic_messages")
    received = message("thinking")
    assert await callback.async_post_call_success_hook(request, KEY, received) is received

    request = messages_data("loud")
    await callback.async_pre_call_hook(KEY, None, request, "anthropic_messages")
    final = await callback.async_post_call_success_hook(request, KEY, message("thinking"))
    assert isinstance(final, dict)
    assert [block["type"] for block in final["content"]] == ["thinking", "text"]
    assert final["content"][0] == message("thinking")["content"][0]  # type: ignore[index]
    assert final["content"][1]["text"] == TEXT.upper()
    assert final["usage"] == message("thinking")["usage"]
    assert statuses(sink) == ["success", "success"]
    assert_clean(callback)


async def test_a_failure_before_anything_was_served_raises_for_a_real_http_error() -> None:
    callback, sink = plugin()
    request = messages_data("loud", stream=True)  # all_caps holds the text: nothing is served before the error
    await callback.async_pre_call_hook(KEY, None, request, "anthropic_messages")
    reads = cut(upstream_events("error_event"))
    with pytest.raises(StreamError) as raised:
        async for _ in callback.async_post_call_streaming_iterator_hook(KEY, items(reads), request):
            pytest.fail("nothing may be served")
    assert raised.value.status_code == 529  # the upstream's overloaded_error
    assert statuses(sink) == ["error"]
    assert_clean(callback)
