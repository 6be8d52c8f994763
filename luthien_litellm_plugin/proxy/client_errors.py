"""Engine errors as the exceptions LiteLLM Proxy turns into client-format errors."""

from __future__ import annotations

import json

from fastapi import HTTPException

from luthien_litellm_plugin.errors import LuthienError, PolicyBlockedError
from luthien_litellm_plugin.proxy.request_data import Api
from luthien_litellm_plugin.streaming.wire_errors import anthropic_error_body, openai_error_type


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
    return json.dumps(anthropic_error_body(error))
