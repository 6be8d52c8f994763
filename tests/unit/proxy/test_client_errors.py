"""Engine errors as client-format errors: a policy block is 400 `policy_blocked` in both formats."""

from __future__ import annotations

import json

import pytest

from luthien_litellm_plugin.errors import (
    LuthienError,
    PolicyBlockedError,
    PolicyError,
    StreamIdleTimeoutError,
    UnsupportedStreamError,
    UpstreamStreamError,
)
from luthien_litellm_plugin.proxy.client_errors import http_error, stream_error
from luthien_litellm_plugin.streaming.wire_errors import anthropic_error_event

BLOCKED = PolicyBlockedError("no_shell", "no shells today")


def test_a_block_is_400_policy_blocked_on_chat() -> None:
    error = http_error(BLOCKED, "chat")
    assert (error.status_code, getattr(error, "type", None)) == (400, "policy_blocked")
    assert error.detail == {"error": BLOCKED.message, "type": "PolicyBlockedError", "policy": "no_shell"}
    streamed = stream_error(BLOCKED, "chat")
    assert (streamed.status_code, streamed.message, getattr(streamed, "type", None)) == (
        400,
        BLOCKED.message,
        "policy_blocked",
    )


def test_a_block_is_400_policy_blocked_on_messages_as_a_whole_anthropic_envelope() -> None:
    # LiteLLM passes a message that already is an Anthropic envelope through unchanged.
    envelope = {"type": "error", "error": {"type": "policy_blocked", "message": BLOCKED.message}}
    error = http_error(BLOCKED, "messages")
    assert error.status_code == 400 and json.loads(str(error.detail)) == envelope
    streamed = stream_error(BLOCKED, "messages")
    assert streamed.status_code == 400 and json.loads(streamed.message) == envelope


@pytest.mark.parametrize(
    ("error", "status", "anthropic_type"),
    [
        (BLOCKED, 400, "policy_blocked"),
        (PolicyError("p", RuntimeError("bug")), 500, "api_error"),
        (StreamIdleTimeoutError(2), 504, "timeout_error"),
        (UnsupportedStreamError("n > 1"), 400, "invalid_request_error"),
        (UpstreamStreamError("overloaded_error", "Overloaded"), 529, "overloaded_error"),
    ],
)
def test_each_error_keeps_its_status_and_gets_its_anthropic_type(
    error: LuthienError, status: int, anthropic_type: str
) -> None:
    assert error.status_code == status
    frame = anthropic_error_event(error).decode()
    assert frame.startswith("event: error\ndata: ")
    assert json.loads(frame.split("data: ", 1)[1])["error"]["type"] == anthropic_type
    if not isinstance(error, PolicyBlockedError):
        assert getattr(http_error(error, "chat"), "type", None) is None  # LiteLLM's default type for the status
