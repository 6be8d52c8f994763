"""/v1/chat/completions through the real proxy: backend × stream × scenario × policy."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.conftest import Proxy, completed
from tests.e2e.sse import stream_chat
from tests.fakes.upstream import LEAD_IN, TEXT
from tests.streams import assert_valid_egress, finish_reasons, served_text, served_tool_calls

pytestmark = pytest.mark.e2e

WEATHER = ("get_weather", {"location": "Paris"})
BASH = ("bash", {"command": "rm -rf /tmp/x"})
BLOCKED_BASH = "\n[block_tools: blocked a call to 'bash': tool 'bash' is not allowed]"

EXPECTED: dict[tuple[str, str], tuple[str, list[tuple[str, dict[str, str]]], str]] = {
    ("passthrough", "text"): (TEXT, [], "stop"),
    ("all_caps", "text"): (TEXT.upper(), [], "stop"),
    ("block_tools", "text"): (TEXT, [], "stop"),
    ("string_replacement", "text"): (TEXT.replace("fake", "real"), [], "stop"),
    ("passthrough", "tool_calls"): (LEAD_IN, [WEATHER, BASH], "tool_calls"),
    ("all_caps", "tool_calls"): (LEAD_IN.upper(), [WEATHER, BASH], "tool_calls"),
    ("block_tools", "tool_calls"): (LEAD_IN + BLOCKED_BASH, [WEATHER], "tool_calls"),
    ("string_replacement", "tool_calls"): (LEAD_IN.replace("check", "verify"), [WEATHER, BASH], "tool_calls"),
}
POLICIES = ["passthrough", "all_caps", "block_tools", "string_replacement"]
TOOLS = [
    {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in ("get_weather", "bash")
]


def body(model: str, scenario: str) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": f"hi scenario:{scenario}"}], "tools": TOOLS}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("scenario", ["text", "tool_calls"])
@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_streaming(proxy: Proxy, backend: str, scenario: str, policy: str) -> None:
    text, tools, finish = EXPECTED[(policy, scenario)]
    with httpx.Client(timeout=30) as client:
        served = stream_chat(client, proxy.base_url, proxy.headers, body(f"{backend}-{policy}", scenario))
    assert served.status_code == 200 and served.done and served.errors == []
    assert_valid_egress(served.chunks)
    assert served_text(served.chunks) == text
    assert [(c["name"], json.loads(str(c["arguments"]))) for c in served_tool_calls(served.chunks)] == tools
    assert finish_reasons(served.chunks) == [finish]
    assert_recorded(proxy, served.headers["x-luthien-transaction-id"], text, policy, streaming=True)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("scenario", ["text", "tool_calls"])
@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_non_streaming(proxy: Proxy, backend: str, scenario: str, policy: str) -> None:
    text, tools, finish = EXPECTED[(policy, scenario)]
    response = httpx.post(
        f"{proxy.base_url}/v1/chat/completions",
        headers=proxy.headers,
        json=body(f"{backend}-{policy}", scenario),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert (choice["message"]["content"] or "") == text
    calls = [
        (c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in choice["message"].get("tool_calls") or []
    ]
    assert calls == tools
    assert choice["finish_reason"] == finish
    assert_recorded(proxy, response.headers["x-luthien-transaction-id"], text, policy, streaming=False)


def assert_recorded(proxy: Proxy, transaction_id: str, served_text: str, policy: str, streaming: bool) -> None:
    events = proxy.events(transaction_id)
    done = completed(events)
    assert (done["status"], done["policy"], done["is_streaming"]) == ("success", policy, streaming)
    kind = "transaction.streaming_response_recorded" if streaming else "transaction.non_streaming_response_recorded"
    [response_event] = [e for e in events if e["event_type"] == kind]
    payload = response_event["payload"]
    assert isinstance(payload, dict)
    original = payload["original_response"]["choices"][0]["message"]["content"] or ""  # type: ignore[index]
    final = payload["final_response"]["choices"][0]["message"]["content"] or ""  # type: ignore[index]
    assert final == served_text
    assert (original == final) == (policy == "passthrough" or original == served_text)
    assert "sk-upstream-secret" not in json.dumps(events) and proxy.master_key not in json.dumps(events)
    row = proxy.transaction_row(transaction_id)
    assert (row["status"], row["policy"], row["is_streaming"]) == ("success", policy, int(streaming))
    assert (json.loads(str(row["final_response"]))["choices"][0]["message"]["content"] or "") == served_text
    assert "sk-upstream-secret" not in json.dumps(row) and proxy.master_key not in json.dumps(row)
