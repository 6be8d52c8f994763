"""How engine errors are named on the client's wire: error types, and Anthropic's error event."""

from __future__ import annotations

import json

from luthien_litellm_plugin.errors import LuthienError, StreamIdleTimeoutError, UpstreamStreamError

POLICY_BLOCKED = "policy_blocked"
"""The error type of a policy block, in every format. Claude Code shows a 400 of this type as a
refusal (`API Error: 400 Blocked by policy …`) and, unlike other 400s, does not retry it with
fewer beta headers."""


def is_block(error: Exception) -> bool:
    """A policy block, or a request the plugin refused: to a client, both are refusals."""
    return isinstance(error, LuthienError) and error.status == "blocked"


def error_message(error: Exception) -> str:
    if isinstance(error, UpstreamStreamError):
        return error.upstream_message  # the upstream's own words, as a direct client would see them
    if isinstance(error, LuthienError):
        return error.message
    return f"{type(error).__name__}: {error}"


def openai_error_type(error: Exception) -> str | None:
    """The OpenAI-format `error.type` of an engine error; None leaves the default for the status."""
    return POLICY_BLOCKED if is_block(error) else None


def anthropic_error_type(error: Exception) -> str:
    """The Anthropic error type matching an engine error (an upstream's own type is kept)."""
    if isinstance(error, UpstreamStreamError):
        return error.error_type
    if is_block(error):
        return POLICY_BLOCKED
    if isinstance(error, StreamIdleTimeoutError):
        return "timeout_error"
    if isinstance(error, LuthienError) and error.status_code == 400:
        return "invalid_request_error"
    return "api_error"


def anthropic_error_event(error: Exception) -> bytes:
    """An Anthropic `event: error` frame, for a failure after the stream started."""
    data = {"type": "error", "error": {"type": anthropic_error_type(error), "message": error_message(error)}}
    return f"event: error\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
