"""Engine errors as the exceptions LiteLLM Proxy turns into client-format errors."""

from __future__ import annotations

import json

from fastapi import HTTPException
from litellm.proxy._types import ProxyException
from litellm.proxy.common_utils.openai_error_payload import openai_error_type_for_status

from luthien_litellm_plugin.errors import LuthienError, PolicyBlockedError, UpstreamStreamError
from luthien_litellm_plugin.proxy.request_data import Api, MalformedRequest
from luthien_litellm_plugin.streaming.error_types import (
    POLICY_BLOCKED,
    anthropic_error_event,
    anthropic_error_type,
    error_message,
    is_block,
    openai_error_type,
)

__all__ = [
    "POLICY_BLOCKED",
    "StreamError",
    "anthropic_error_event",
    "anthropic_error_type",
    "http_error",
    "invalid_request_error",
    "openai_error_type",
    "responses_error_frame",
    "responses_failure",
    "stream_error",
]


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


def stream_error(error: Exception, api: Api) -> Exception:
    """What the streaming hook raises for a stream that fails (an engine error in the client's
    format; anything else as it is)."""
    if not isinstance(error, LuthienError):
        return error
    if api == "messages":
        return StreamError(error.status_code, _anthropic_envelope(error))
    return StreamError(error.status_code, error.message, openai_error_type(error))


def _anthropic_envelope(error: LuthienError) -> str:
    """The whole Anthropic error body as the error's message. LiteLLM passes a message that already is
    an envelope through unchanged; any other message gets the type LiteLLM derives from the status
    (400 → `invalid_request_error`), which would hide `policy_blocked`."""
    return json.dumps(
        {"type": "error", "error": {"type": anthropic_error_type(error), "message": error_message(error)}}
    )


def responses_error_frame(error: Exception) -> bytes:
    """For a Responses stream that fails before its first event: `data: {"error": …}` in OpenAI's
    format with the HTTP status as `code`. Sent as the stream's first item, LiteLLM answers with
    that HTTP status and this error as JSON (raising instead would give a 200 `response.failed`)."""
    status, _, message = _error_fields(error)
    error_type = (openai_error_type(error) if isinstance(error, LuthienError) else None) or (
        openai_error_type_for_status(status)
    )
    body = {"error": {"message": message, "type": error_type, "param": None, "code": str(status)}}
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()


def responses_failure(error: Exception) -> tuple[str, str]:
    """(code, message) of the `response.failed` event ending a Responses stream that failed after it
    started: `policy_blocked` for a block, an upstream's own code and words (as LiteLLM keeps
    them), else the code LiteLLM gives the error's HTTP status."""
    status, code, message = _error_fields(error)
    if is_block(error):
        return POLICY_BLOCKED, message
    fallback = "invalid_request_error" if status < 500 else "server_error"
    return code or _RESPONSES_CODES.get(status) or fallback, message


_RESPONSES_CODES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "request_timeout",
    429: "rate_limit_exceeded",
}
"""LiteLLM's `response.failed` codes for HTTP statuses (its responses stream errors)."""


def _error_fields(error: Exception) -> tuple[int, str | None, str]:
    """(HTTP status, the upstream's own error code if known, message) of an engine or LiteLLM error."""
    if isinstance(error, UpstreamStreamError):
        return error.status_code, error.error_type, error.upstream_message
    if isinstance(error, LuthienError):
        return error.status_code, None, error.message
    status = getattr(error, "status_code", None)
    status = status if isinstance(status, int) and 400 <= status <= 599 else 500
    body = getattr(error, "body", None)  # LiteLLM keeps an upstream error's own fields here
    fields = body if isinstance(body, dict) else {}
    code = fields.get("code") or fields.get("type")
    message = fields.get("message") or getattr(error, "message", None) or f"{type(error).__name__}: {error}"
    return status, str(code) if isinstance(code, str) and not code.isdecimal() else None, str(message)
