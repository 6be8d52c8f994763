"""block_tools through the real proxy, on every tool-call shape a model sends, streamed and not.

`tools: [bash]` stops function tool calls, OpenAI custom (free-form) tool calls and the legacy
`function_call` (a client that sends `functions`), whatever the name's case (Claude Code's tool is
`Bash`); `arguments_pattern` sees through JSON escapes. The fake upstream sends each shape.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.anthropic_streams import accumulate
from tests.e2e.messages_proxy import (
    MessagesProxy,
    messages_body,
    messages_fake,
    messages_proxy,
    new_marker,
    post_raw,
    recorded_status,
)
from tests.e2e.sse import stream_chat
from tests.streams import finish_reasons, served_calls, served_text

pytestmark = pytest.mark.e2e
__all__ = ["messages_fake", "messages_proxy"]  # the session fixtures this module uses

FUNCTIONS = [{"name": "bash", "description": "run a command", "parameters": {"type": "object"}}]


def chat(
    proxy: MessagesProxy, model: str, scenario: str, *, stream: bool, functions: bool = False
) -> tuple[str, list[tuple[str, str, str]], str, str]:
    """(text, tool calls as the client accumulates them, finish reason, transaction id) of one chat request."""
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": f"{new_marker()} scenario:{scenario}"}],
    }
    if functions:
        body["functions"] = FUNCTIONS
    if stream:
        with httpx.Client(timeout=30) as client:
            served = stream_chat(client, proxy.base_url, proxy.headers, body)
        assert served.status_code == 200 and served.errors == [], served.body
        [finish] = finish_reasons(served.chunks)
        return (
            served_text(served.chunks),
            served_calls(served.chunks),
            finish,
            served.headers["x-luthien-transaction-id"],
        )
    response = httpx.post(f"{proxy.base_url}/v1/chat/completions", headers=proxy.headers, json=body, timeout=30)
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    message = choice["message"]
    calls = [
        ("custom", c["custom"]["name"], c["custom"]["input"])
        if c["type"] == "custom"
        else ("function", c["function"]["name"], c["function"]["arguments"])
        for c in message.get("tool_calls") or []
    ]
    if message.get("function_call"):
        calls.append(("function_call", message["function_call"]["name"], message["function_call"]["arguments"]))
    return message["content"] or "", calls, choice["finish_reason"], response.headers["x-luthien-transaction-id"]


@pytest.mark.parametrize("stream", [True, False])
def test_a_custom_tool_call_is_blocked(messages_proxy: MessagesProxy, stream: bool) -> None:
    text, calls, finish, transaction_id = chat(messages_proxy, "openai-block_tools", "custom_tool_call", stream=stream)
    assert [name for _, name, _ in calls] == ["get_weather"]  # the custom `bash` call never reached the client
    assert "blocked a call to 'bash'" in text and finish == "tool_calls"
    assert recorded_status(messages_proxy, transaction_id) == ("success", None)


@pytest.mark.parametrize("stream", [True, False])
def test_a_legacy_function_call_is_blocked(messages_proxy: MessagesProxy, stream: bool) -> None:
    """The client sent `functions`, so OpenAI answers with the legacy `function_call`."""
    text, calls, finish, _ = chat(messages_proxy, "openai-block_tools", "function_call", stream=stream, functions=True)
    assert calls == [] and finish == "stop"
    assert "blocked a call to 'bash'" in text


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("backend", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("policy", "scenario", "notice"),
    [
        ("block_tools", "capitalised_tool", "blocked a call to 'Bash': tool 'Bash' is not allowed"),  # any case
        ("block_rm", "escaped_arguments", "arguments of 'run' match /rm -rf/"),  # JSON escapes resolved
    ],
)
def test_names_and_arguments_are_matched_as_the_client_would_run_them(
    messages_proxy: MessagesProxy, backend: str, stream: bool, policy: str, scenario: str, notice: str
) -> None:
    text, calls, finish, _ = chat(messages_proxy, f"{backend}-{policy}", scenario, stream=stream)
    assert calls == [] and finish == "stop"
    assert notice in text


@pytest.mark.parametrize("scenario", ["capitalised_tool", "escaped_arguments"])
@pytest.mark.parametrize("stream", [True, False])
def test_claude_code_shapes_on_v1_messages(messages_proxy: MessagesProxy, scenario: str, stream: bool) -> None:
    """What Claude Code sees on `/v1/messages`: no `tool_use` left, the stop reason says so."""
    policy = "block_tools" if scenario == "capitalised_tool" else "block_rm"
    served = post_raw(
        messages_proxy, messages_body(f"anthropic-{policy}", f"{new_marker()} scenario:{scenario}", stream=stream)
    )
    assert served.status_code == 200, served.body
    message = accumulate(served.body).model_dump() if stream else served.json()
    assert [b for b in message["content"] if b["type"] == "tool_use"] == []  # type: ignore[union-attr]
    assert message["stop_reason"] == "end_turn" and "blocked a call to" in json.dumps(message["content"])
