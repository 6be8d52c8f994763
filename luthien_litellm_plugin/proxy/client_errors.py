"""Engine errors as the exceptions LiteLLM Proxy turns into client-format errors."""

from __future__ import annotations

import json

from fastapi import HTTPException
from litellm.proxy._types import ProxyException

from luthien_litellm_plugin.errors import (
    LuthienError,
    PolicyBlockedError,
    StreamIdleTimeoutError,
    UpstreamStreamError,
)
from luthien_litellm_plugin.proxy.request_data import Api, MalformedRequest

POLICY_BLOCKED = "policy_blocked"
"""The error type of a policy block, in both formats. Claude Code shows a 400 of this type as a
refusal (`API Error: 400 Blocked by policy …`) and, unlike other 400s, does not retry it with
fewer beta headers."""


class StreamError(Exception):
    """Raised from the streaming hook. LiteLLM reads `status_code`, `message` and `type`: before the
    first chunk the client gets a real HTTP error, after it an in-band error frame."""

    def __init__(self, status_code: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        if error_type is not None:
            self.type = error_type  # LiteLLM's OpenAI-format `error.type`; absent → its default for the status


class TypedHTTPException(HTTPException):
    """An HTTPException whose OpenAI-format `error.type` LiteLLM takes from `type`."""

    def __init__(self, status_code: int, detail: object, error_type: str) -> None:
        super().__init__(status_code=status_code, detail=detail)
        self.type = error_type


def _is_block(error: Exception) -> bool:
    """A policy block, or a request the plugin refused: to a client, both are refusals."""
    return isinstance(error, LuthienError) and error.status == "blocked"


def _detail(error: LuthienError) -> dict[str, object]:
    detail: dict[str, object] = {"error": error.message, "type": type(error).__name__}
    if isinstance(error, PolicyBlockedError):
        detail["policy"] = error.policy
    return detail


def http_error(error: LuthienError, api: Api) -> HTTPException:
    """For request hooks and complete responses: an HTTP error in the client's format, policy named."""
    if api == "messages":
        return HTTPException(status_code=error.status_code, detail=_anthropic_envelope(error))
    error_type = openai_error_type(error)
    if error_type is None:
        return HTTPException(status_code=error.status_code, detail=_detail(error))
    return TypedHTTPException(error.status_code, _detail(error), error_type)


def invalid_request_error(error: MalformedRequest) -> ProxyException:
    """What LiteLLM itself answers a malformed request: 400 `invalid_request_error`, in the client's format."""
    return ProxyException(message=error.message, type="invalid_request_error", param=error.param, code=400)


def stream_error(error: LuthienError, api: Api) -> StreamError:
    if api == "messages":
        return StreamError(error.status_code, _anthropic_envelope(error))
    return StreamError(error.status_code, error.message, openai_error_type(error))


def _anthropic_envelope(error: LuthienError) -> str:
    """The whole Anthropic error body as the error's message. LiteLLM passes a message that already is
    an envelope through unchanged; any other message gets the type LiteLLM derives from the status
    (400 → `invalid_request_error`), which would hide `policy_blocked`."""
    return json.dumps({"type": "error", "error": {"type": anthropic_error_type(error), "message": _message(error)}})


def openai_error_type(error: LuthienError) -> str | None:
    """The OpenAI-format `error.type` of an engine error; None leaves LiteLLM's default for the status."""
    return POLICY_BLOCKED if _is_block(error) else None


def anthropic_error_event(error: Exception) -> bytes:
    """An Anthropic `event: error` frame, for a failure after the stream started."""
    data = {"type": "error", "error": {"type": anthropic_error_type(error), "message": _message(error)}}
    return f"event: error\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _message(error: Exception) -> str:
    if isinstance(error, UpstreamStreamError):
        return error.upstream_message  # the upstream's own words, as a direct client would see them
    if isinstance(error, LuthienError):
        return error.message
    return f"{type(error).__name__}: {error}"


def anthropic_error_type(error: Exception) -> str:
    """The Anthropic error type matching an engine error (an upstream's own type is kept)."""
    if isinstance(error, UpstreamStreamError):
        return error.error_type
    if _is_block(error):
        return POLICY_BLOCKED
    if isinstance(error, StreamIdleTimeoutError):
        return "timeout_error"
    if isinstance(error, LuthienError) and error.status_code == 400:
        return "invalid_request_error"
    return "api_error"
