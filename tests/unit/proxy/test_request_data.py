"""Reading the client's request from LiteLLM's `data`, and writing the policy's changes back."""

from __future__ import annotations

import copy

from luthien_litellm_plugin.orchestration.revision import request_fields, revision
from luthien_litellm_plugin.proxy import request_data

MESSAGES = [{"role": "user", "content": "hi"}]


def litellm_data() -> dict[str, object]:
    body = {"model": "m", "messages": MESSAGES, "max_tokens": 9, "stream": True}
    return {"model": "m", "messages": MESSAGES, "max_tokens": 9, "proxy_server_request": {"body": body}}


def test_a_request_the_policy_changed_is_written_back_key_by_key() -> None:
    data = litellm_data()
    original = request_data.client_request(data, "messages")
    final = original.model_copy(update={"messages": [{"role": "user", "content": "HI"}], "max_tokens": None})
    revised = revision(final, request_fields(original), request_fields(final))
    request_data.apply_request(data, revised, "messages")
    assert data["messages"] == [{"role": "user", "content": "HI"}]
    assert "max_tokens" not in data  # dropped by the policy (None is not sent)


def test_a_request_the_policy_left_alone_writes_nothing() -> None:
    data = litellm_data()
    original = request_data.client_request(data, "messages")
    before = copy.deepcopy(data)
    revised = revision(original, request_fields(original), request_fields(original))
    assert not revised.changed
    request_data.apply_request(data, revised, "messages")
    assert data == before


def test_a_responses_request_edited_in_place_is_written_back_as_its_input() -> None:
    body = {"model": "m", "input": "hi"}
    data: dict[str, object] = {**body, "proxy_server_request": {"body": dict(body)}}
    request = request_data.client_request(data, "responses")
    before = request_fields(request)
    request.messages[0]["content"] = "edited"  # the string input became a message of our own
    request_data.apply_request(data, revision(request, before, request_fields(request)), "responses")
    assert data["input"] == [{"role": "user", "content": "edited"}]
