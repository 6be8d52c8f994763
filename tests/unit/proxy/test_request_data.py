"""Reading the client's request from LiteLLM's `data`, and writing the policy's changes back."""

from __future__ import annotations

import copy

import pytest

from luthien_litellm_plugin.proxy import request_data
from luthien_litellm_plugin.types import RequestMessage

MESSAGES = [{"role": "user", "content": "hi"}]


def litellm_data() -> dict[str, object]:
    body = {"model": "m", "messages": MESSAGES, "max_tokens": 9, "stream": True}
    return {"model": "m", "messages": MESSAGES, "max_tokens": 9, "proxy_server_request": {"body": body}}


def test_a_request_the_policy_changed_is_written_back_key_by_key() -> None:
    data = litellm_data()
    original = request_data.client_request(data, "messages")
    final = original.model_copy(update={"messages": [{"role": "user", "content": "HI"}], "max_tokens": None})
    request_data.apply_request(data, original, final, "messages")
    assert data["messages"] == [{"role": "user", "content": "HI"}]
    assert "max_tokens" not in data  # dropped by the policy (None is not sent)


def test_a_request_the_policy_left_alone_is_not_dumped_or_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    data = litellm_data()
    original = request_data.client_request(data, "messages")
    before = copy.deepcopy(data)

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("an unchanged request was dumped")

    monkeypatch.setattr(RequestMessage, "model_dump", refuse)
    request_data.apply_request(data, original, original, "messages")
    assert data == before
