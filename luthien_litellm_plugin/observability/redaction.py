"""Removes secrets from anything about to be recorded."""

from __future__ import annotations

from luthien_litellm_plugin.types import JSONValue

SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "api_key",
        "apikey",
        "x-goog-api-key",
        "aws_secret_access_key",
        "aws_session_token",
        "secret_fields",
        "cookie",
    }
)
REDACTED = "[redacted]"


def scrub_secrets(value: JSONValue) -> JSONValue:
    """A copy of `value` in which every secret-named key's value is replaced by `[redacted]`.

    Keys are matched case-insensitively, at any depth (request bodies, headers, metadata).
    """
    if isinstance(value, dict):
        return {key: REDACTED if key.lower() in SECRET_KEYS else scrub_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_secrets(item) for item in value]
    return value
