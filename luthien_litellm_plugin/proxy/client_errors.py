"""Engine errors as the exceptions LiteLLM Proxy turns into client-format errors."""

from __future__ import annotations

from fastapi import HTTPException

from luthien_litellm_plugin.errors import LuthienError, PolicyBlockedError


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
