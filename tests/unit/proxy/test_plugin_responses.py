"""LuthienCallback on `/v1/responses` (call type `aresponses`): LiteLLM's event objects and `ResponsesAPIResponse`."""

from __future__ import annotations

import copy
import json

from litellm.types.llms.openai import ResponsesAPIResponse

from luthien_litellm_plugin.events import TRANSACTION_REQUEST_RECORDED
from luthien_litellm_plugin.streaming.responses_validator import validate_responses_stream
from tests.fakes.scenarios import TEXT
from tests.responses_streams import accumulate, client_view, text_of, upstream_events
from tests.streams import iterate
from tests.unit.orchestration.test_responses_object import response
from tests.unit.proxy.test_plugin import KEY, assert_clean, plugin, statuses


def responses_data(model: str, content: object = "hi", **extra: object) -> dict[str, object]:
    body = {"model": model, "input": content, **extra}
    return {
        **copy.deepcopy(body),
        "metadata": {"client": "field"},
        "litellm_metadata": {},
        "proxy_server_request": {"body": body, "headers": {}},
    }


async def test_marks_go_to_litellm_metadata_and_the_openai_metadata_stays_clean() -> None:
    callback, sink = plugin()
    request = responses_data("loud")
    request["metadata"] = {"client": "field", "luthien_transaction_id": "forged", "luthien_policy": "passthrough"}
    await callback.async_pre_call_hook(KEY, None, request, "aresponses")
    assert request["metadata"] == {"client": "field"}, "our keys never go upstream in the Responses metadata"
    litellm_metadata = request["litellm_metadata"]
    assert isinstance(litellm_metadata, dict)
    assert litellm_metadata["luthien_policy"] == "shout" and litellm_metadata["luthien_api"] == "responses"
    assert request["input"] == "hi", "an unchanged input goes upstream as the client sent it"
    [recorded] = sink.of_type(TRANSACTION_REQUEST_RECORDED)
    assert recorded.payload["api"] == "responses"
    assert recorded.payload["original_request"]["messages"] == [{"role": "user", "content": "hi"}]  # type: ignore[index]
    await callback.async_post_call_failure_hook(request, RuntimeError("cleanup"), KEY)
    assert_clean(callback)


async def test_streamed_responses_run_the_policy_over_event_objects() -> None:
    callback, sink = plugin()
    request = responses_data("loud", stream=True)
    await callback.async_pre_call_hook(KEY, None, request, "aresponses")
    events = upstream_events("thinking")
    served = [
        client_view(e) async for e in callback.async_post_call_streaming_iterator_hook(KEY, iterate(events), request)
    ]
    assert validate_responses_stream(served) == []
    assert text_of(accumulate(served)) == TEXT.upper()
    assert statuses(sink) == ["success"]
    assert_clean(callback)


async def test_a_failure_after_the_stream_started_ends_with_response_failed() -> None:
    callback, sink = plugin()
    request = responses_data("unknown-group-uses-default", stream=True)
    await callback.async_pre_call_hook(KEY, None, request, "aresponses")
    events = upstream_events("failed")
    served = [item async for item in callback.async_post_call_streaming_iterator_hook(KEY, iterate(events), request)]
    data = [client_view(e) for e in served]
    assert validate_responses_stream(data) == []
    assert data[-1]["type"] == "response.failed"
    assert data[-1]["response"]["error"] == {  # type: ignore[index]
        "code": "server_error",
        "message": "The model is overloaded. Please try again later.",
    }
    assert statuses(sink) == ["error"]
    assert_clean(callback)


async def test_a_failure_before_anything_was_served_is_an_error_frame_for_a_real_http_error() -> None:
    callback, sink = plugin()
    request = responses_data("loud", stream=True)  # all_caps holds the text: nothing is served before the error
    await callback.async_pre_call_hook(KEY, None, request, "aresponses")
    served = [
        item
        async for item in callback.async_post_call_streaming_iterator_hook(
            KEY, iterate(upstream_events("failed")), request
        )
    ]
    [frame] = served
    assert isinstance(frame, bytes) and frame.startswith(b"data: ") and frame.endswith(b"\n\n")
    error = json.loads(frame[len(b"data: ") :])["error"]
    assert error["code"] == "500" and error["message"] == "The model is overloaded. Please try again later."
    assert statuses(sink) == ["error"]
    assert_clean(callback)


async def test_complete_responses_are_edited_and_unchanged_ones_returned_as_received() -> None:
    callback, sink = plugin()
    request = responses_data("unknown-group-uses-default")
    await callback.async_pre_call_hook(KEY, None, request, "aresponses")
    received = response("thinking")
    assert await callback.async_post_call_success_hook(request, KEY, received) is received

    request = responses_data("loud")
    await callback.async_pre_call_hook(KEY, None, request, "aresponses")
    final = await callback.async_post_call_success_hook(request, KEY, response("thinking"))
    assert isinstance(final, ResponsesAPIResponse) and final.output_text == TEXT.upper()  # type: ignore[attr-defined]
    assert statuses(sink) == ["success", "success"]
    assert_clean(callback)


async def test_a_policy_that_changes_the_input_writes_it_back_as_input() -> None:
    callback, _ = plugin()
    request = responses_data("unknown-group-uses-default", [{"role": "user", "content": "hi"}])
    await callback.async_pre_call_hook(KEY, None, request, "aresponses")
    assert request["input"] == [{"role": "user", "content": "hi"}] and "messages" not in request
    await callback.async_post_call_failure_hook(request, RuntimeError("cleanup"), KEY)
