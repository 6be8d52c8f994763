"""Engine errors as the exceptions LiteLLM Proxy turns into client-format errors."""

from __future__ import annotations

import json

from fastapi import HTTPException

from luthien_litellm_plugin.errors import (
    LuthienError,
    PolicyBlockedError,
    StreamIdleTimeoutError,
    UpstreamStreamError,
)


class StreamError(Exception):
    """Raised from the streaming hook. LiteLLM reads `status_code` and `message`: before the
    first chunk the client gets a real HTTP error, after it an in-band error frame."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def _detail(error: LuthienError) -> dict[str, object]:
    detail: dict[str, object] = {"error": error.message, "type": type(error).__name__}
    if isinstance(error, PolicyBlockedError):
        detail["policy"] = error.policy
    return detail


def http_error(error: LuthienError) -> HTTPException:
    """For request hooks and complete responses: an HTTP error with the policy named."""
    return HTTPException(status_code=error.status_code, detail=_detail(error))


def stream_error(error: LuthienError) -> StreamError:
    return StreamError(error.status_code, error.message)


def anthropic_error_event(error: Exception) -> bytes:
    """An Anthropic `event: error` frame, for a failure after the stream started."""
    if isinstance(error, UpstreamStreamError):
        message = error.upstream_message  # the upstream's own words, as a direct client would see them
    elif isinstance(error, LuthienError):
        message = error.message
    else:
        message = f"{type(error).__name__}: {error}"
    data = {"type": "error", "error": {"type": anthropic_error_type(error), "message": message}}
    return f"event: error\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def anthropic_error_type(error: Exception) -> str:
    """The Anthropic error type matching an engine error (an upstream's own type is kept)."""
    if isinstance(error, UpstreamStreamError):
        return error.error_type
    if isinstance(error, PolicyBlockedError):
        return "permission_error"
    if isinstance(error, StreamIdleTimeoutError):
        return "timeout_error"
    return "api_error"
