"""Exceptions the engine raises; the proxy layer turns each into an error in the client's format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

TerminalStatus = Literal["success", "blocked", "error", "cancelled", "timeout"]


class LuthienError(Exception):
    """Base class. `status` is the transaction's terminal status when this error ends it."""

    status: TerminalStatus = "error"
    status_code: int = 500

    @property
    def message(self) -> str:
        return str(self)


class PolicyBlockedError(LuthienError):
    """A policy refused the request or the response.

    400, not 403: Claude Code shows every 403 as "Failed to authenticate" (see the README's table
    of what each client shows).
    """

    status: TerminalStatus = "blocked"
    status_code = 400

    def __init__(self, policy: str, reason: str) -> None:
        super().__init__(f"Blocked by policy '{policy}': {reason}")
        self.policy = policy
        self.reason = reason


class RouteRefusedError(LuthienError):
    """A request the plugin cannot put under its policy: refused before it reaches a model.

    Raised for routes the plugin does not cover, and for a deployment whose policy differs
    from the one the request was checked under (an alias, a fallback into another group, …).
    """

    status: TerminalStatus = "blocked"
    status_code = PolicyBlockedError.status_code  # to a client, a refusal is a block like any other


class PolicyError(LuthienError):
    """A policy raised unexpectedly. The engine fails closed: the response ends in this error."""

    status_code = 500

    def __init__(self, policy: str, cause: BaseException) -> None:
        super().__init__(f"Policy '{policy}' failed: {type(cause).__name__}: {cause}")
        self.policy = policy


class StreamIdleTimeoutError(LuthienError):
    """Nothing moved through the stream (no upstream chunk, no keepalive) for too long."""

    status: TerminalStatus = "timeout"
    status_code = 504

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(f"Upstream stream idle for more than {timeout_seconds:g} s")
        self.timeout_seconds = timeout_seconds


class UnsupportedStreamError(LuthienError, ValueError):
    """The upstream stream has a shape the engine does not handle (e.g. `n > 1` choices)."""

    status_code = 400


_ANTHROPIC_STATUS_CODES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


_RESPONSES_STATUS_CODES = {
    "invalid_request_error": 400,
    "invalid_prompt": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_timeout": 408,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
}


class UpstreamStreamError(LuthienError):
    """The upstream reported an error in the middle of its stream (an Anthropic `error` event, a
    Responses `error` or `response.failed` event). `error_type` is the upstream's own type / code."""

    def __init__(self, error_type: str, message: str, status_code: int | None = None) -> None:
        super().__init__(f"Upstream error ({error_type}): {message}")
        self.error_type = error_type
        self.upstream_message = message
        self.status_code = status_code or _ANTHROPIC_STATUS_CODES.get(error_type, 500)

    @classmethod
    def from_anthropic_event(cls, data: Mapping[str, object]) -> UpstreamStreamError:
        error = data.get("error")
        fields = error if isinstance(error, dict) else {}
        return cls(str(fields.get("type") or "api_error"), str(fields.get("message") or data))

    @classmethod
    def from_responses_code(cls, code: str, message: str) -> UpstreamStreamError:
        """An error with an OpenAI Responses error code (`server_error`, `rate_limit_exceeded`, …)."""
        return cls(code, message, _RESPONSES_STATUS_CODES.get(code, 500))

    @classmethod
    def from_responses_event(cls, kind: str, data: Mapping[str, object]) -> UpstreamStreamError:
        """From a Responses `error` event (code and message at the top, or in `error`) or a
        `response.failed` event (in `response.error`)."""
        fields: Mapping[str, object] = data
        if kind == "response.failed":
            response = data.get("response")
            error = response.get("error") if isinstance(response, dict) else None
            fields = error if isinstance(error, dict) else {}
        elif isinstance(data.get("error"), dict):
            fields = data["error"]  # type: ignore[assignment]
        code = fields.get("code") or fields.get("type") or "server_error"
        return cls.from_responses_code(str(code), str(fields.get("message") or data))
