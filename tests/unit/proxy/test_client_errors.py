"""Engine errors as client-format errors: a policy block is 400 `policy_blocked` in every format."""

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
from luthien_litellm_plugin.proxy.client_errors import (
    anthropic_error_event,
    http_error,
    responses_error_frame,
    responses_failure,
    stream_error,
)

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


class ProviderError(Exception):
    """Like LiteLLM's mapped provider exceptions: a status and the upstream's own error fields."""

    def __init__(self) -> None:
        super().__init__("litellm.InternalServerError: OpenAIException - overloaded")
        self.status_code = 500
        self.body = {"message": "The model is overloaded.", "type": None, "code": "server_error"}


def frame_error(error: Exception) -> dict[str, object]:
    frame = responses_error_frame(error)
    assert frame.startswith(b"data: ") and frame.endswith(b"\n\n")
    found = json.loads(frame[len(b"data: ") :])["error"]
    assert isinstance(found, dict)
    return found


@pytest.mark.parametrize(
    ("error", "frame", "failure"),
    [
        (BLOCKED, ("400", "policy_blocked", BLOCKED.message), ("policy_blocked", BLOCKED.message)),
        (
            PolicyError("p", RuntimeError("bug")),
            ("500", "internal_server_error", "Policy 'p' failed: RuntimeError: bug"),
            ("server_error", "Policy 'p' failed: RuntimeError: bug"),
        ),
        (
            StreamIdleTimeoutError(2),
            ("504", "internal_server_error", "Upstream stream idle for more than 2 s"),
            ("server_error", "Upstream stream idle for more than 2 s"),
        ),
        (
            UpstreamStreamError.from_responses_code("rate_limit_exceeded", "slow down"),
            ("429", "rate_limit_error", "slow down"),
            ("rate_limit_exceeded", "slow down"),
        ),
        (
            ProviderError(),
            ("500", "internal_server_error", "The model is overloaded."),
            ("server_error", "The model is overloaded."),
        ),
    ],
)
def test_responses_errors_before_and_after_the_first_event(
    error: Exception, frame: tuple[str, str, str], failure: tuple[str, str]
) -> None:
    found = frame_error(error)
    assert (found["code"], found["type"], found["message"]) == frame and found["param"] is None
    assert responses_failure(error) == failure
