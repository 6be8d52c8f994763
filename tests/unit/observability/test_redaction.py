"""What `scrub_secrets` removes from a record, what it keeps, and how deep a record may nest."""

from __future__ import annotations

import json

import pytest

from luthien_litellm_plugin.observability.redaction import MAX_DEPTH, REDACTED, redact_secret_values, scrub_secrets
from luthien_litellm_plugin.types import JSONValue


def test_secret_named_keys_at_any_depth_in_any_case() -> None:
    value: JSONValue = {
        "a": [{"API_KEY": "k", "x-api-key": "k2", "keep": "v"}],
        "Api-Key": "k3",
        "user_api_key": "client-body-secret",
        "db_password": "hunter2",
        "client_secret": "s",
        "session_cookie": "c",
        "Proxy-Authorization": "Basic abc",
        "aws_session_token": "t",
        "credentials": {"user": "bob", "pass": "x"},  # everything under a secret-named key
        "api_keys": ["one", ["two"]],
    }
    assert scrub_secrets(value) == {
        "a": [{"API_KEY": REDACTED, "x-api-key": REDACTED, "keep": "v"}],
        "Api-Key": REDACTED,
        "user_api_key": REDACTED,
        "db_password": REDACTED,
        "client_secret": REDACTED,
        "session_cookie": REDACTED,
        "Proxy-Authorization": REDACTED,
        "aws_session_token": REDACTED,
        "credentials": {"user": REDACTED, "pass": REDACTED},
        "api_keys": [REDACTED, [REDACTED]],
    }


def test_token_counts_and_other_numbers_survive() -> None:
    value: JSONValue = {
        "max_tokens": 32000,
        "max_completion_tokens": 100,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "usage": {
            "prompt_tokens": 42,
            "completion_tokens": 7,
            "total_tokens": 49,
            "input_tokens": 42,
            "cache_read_input_tokens": 1024,
            "cache_creation_input_tokens": 128,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": None},
            "completion_tokens_details": {"reasoning_tokens": 3, "accepted_prediction_tokens": 0},
        },
        "logit_bias": {"50256": -100},
        "stream": True,
    }
    assert scrub_secrets(value) == value


def test_header_maps_keep_only_allowed_headers() -> None:
    value: JSONValue = {
        "extra_headers": {
            "X-Other-Token": "tok",
            "X-Custom": "anything, even harmless",
            "Content-Type": "application/json",
            "anthropic-beta": "tools-2024",
            "User-Agent": "claude-cli/2.1",
        },
        "headers": {"x-request-id": "r", "accept": "*/*"},
        "default_headers": "X-Token: abc",  # not a map: nothing kept
        "response-headers": [["x-secret", "v"]],
    }
    assert scrub_secrets(value) == {
        "extra_headers": {
            "X-Other-Token": REDACTED,
            "X-Custom": REDACTED,
            "Content-Type": "application/json",
            "anthropic-beta": "tools-2024",
            "User-Agent": "claude-cli/2.1",
        },
        "headers": {"x-request-id": REDACTED, "accept": "*/*"},
        "default_headers": REDACTED,
        "response-headers": [[REDACTED, REDACTED]],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("use sk-proj-abcdefghijklmnopqrstuvwx now", f"use {REDACTED} now"),
        ("key=sk-ant-api03-AAAABBBBCCCCDDDD-eeee_ffff.", f"key={REDACTED}."),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def==", f"Authorization: {REDACTED}"),
        ("BEARER 0123456789abcdef0123", REDACTED),
        ("sk-1234", "sk-1234"),  # too short to be a key
        ("a task-abcdefghijklmnopqrstuvwx id", "a task-abcdefghijklmnopqrstuvwx id"),  # not a standalone sk-
        ("the bearer of bad news", "the bearer of bad news"),
    ],
)
def test_values_that_look_like_keys_are_redacted_in_place(text: str, expected: str) -> None:
    assert redact_secret_values(text) == expected
    assert scrub_secrets({"messages": [{"content": text}]}) == {"messages": [{"content": expected}]}


def depth_of(value: JSONValue) -> int:
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else []
        pending.extend((child, depth + 1) for child in children)
    return deepest


def nested(levels: int, leaf: JSONValue) -> JSONValue:
    value = leaf
    for level in range(levels):
        value = {"a": value} if level % 2 else [value]
    return value


@pytest.mark.parametrize("levels", [MAX_DEPTH + 400, 20_000])  # 20,000: far beyond any recursion limit
def test_any_depth_is_scrubbed_and_the_deep_part_kept_as_json_text(levels: int) -> None:
    leaf = {"api_key": "deep-secret", "text": "sk-ant-api03-deepdeepdeepdeepdeep", "n": 1}
    scrubbed = scrub_secrets({"tools": nested(levels, leaf)})
    assert depth_of(scrubbed) == MAX_DEPTH
    text = json.dumps(scrubbed)
    assert "deep-secret" not in text and "deepdeepdeep" not in text
    cut: JSONValue = scrubbed
    while not isinstance(cut, str):  # follow the only path down to where the JSON text starts
        cut = next(iter(cut.values())) if isinstance(cut, dict) else cut[0]
    expected = nested(levels - MAX_DEPTH + 1, {"api_key": REDACTED, "text": REDACTED, "n": 1})
    if levels < 1000:  # what Python's own (recursive) JSON parser can read back
        assert json.loads(cut) == expected
    assert '{"api_key":"[redacted]","text":"[redacted]","n":1}' in cut and cut.count(REDACTED) == 2


def test_a_shallow_value_is_copied_unchanged_and_never_mutated() -> None:
    shared: JSONValue = {"role": "user", "content": "hi", "headers": {"x-token": "t"}}
    value: JSONValue = {"original_request": shared, "final_request": shared, "list": [1, "two", None, 3.5]}
    before = json.dumps(value)
    scrubbed = scrub_secrets(value)
    assert json.dumps(value) == before
    assert scrubbed == {
        "original_request": {"role": "user", "content": "hi", "headers": {"x-token": REDACTED}},
        "final_request": {"role": "user", "content": "hi", "headers": {"x-token": REDACTED}},
        "list": [1, "two", None, 3.5],
    }
