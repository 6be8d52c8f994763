"""/v1/messages through the real proxy: backend × policy × how the client reads × scenario, byte-exact
passthrough, and what gets recorded."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pytest
from anthropic.types import Message

from luthien_litellm_plugin.streaming.anthropic_validator import validate_anthropic_stream
from tests.anthropic_streams import accumulate, parse, text_of, tool_uses
from tests.e2e.messages_proxy import (
    TOOLS,
    MessagesProxy,
    Served,
    assert_no_secrets,
    completions,
    messages_body,
    messages_fake,
    messages_proxy,
    new_marker,
    post_raw,
    recorded_text,
    sdk_client,
)
from tests.e2e.policy_outcomes import POLICIES, Outcome, assert_text, outcome
from tests.fakes.anthropic_upstream import anthropic_stream_events
from tests.fakes.common import Ids, dumps
from tests.fakes.scenarios import (
    TEXT,
    THINKING,
    THINKING_SIGNATURE,
    build_scenario,
)

pytestmark = pytest.mark.e2e
__all__ = ["messages_fake", "messages_proxy"]  # the session fixtures this module uses

MODES = ["raw_stream", "sdk_stream", "sdk_create"]
"""raw_stream: httpx bytes; sdk_stream: `messages.stream()` + `get_final_message()`; sdk_create: not streamed."""
CASES = [
    (backend, scenario)
    for backend in ("anthropic", "openai")
    for scenario in ("text", "tool_only", "parallel_tool_calls", "thinking")
    if scenario != "thinking" or backend == "anthropic"  # the OpenAI API has no thinking blocks
]


@dataclass(frozen=True)
class Expected(Outcome):
    """What the client must get."""

    stop_reason: str = "end_turn"
    thinking: str | None = None


def expected(policy: str, scenario: str) -> Expected:
    served = outcome(policy, scenario)
    return Expected(
        **vars(served),
        stop_reason="tool_use" if served.calls else "end_turn",
        thinking=THINKING if scenario == "thinking" else None,
    )


def assert_message(message: Message, want: Expected, model: str) -> None:
    """The client-side message matches what the policy should have made of the upstream's answer."""
    thinking = [block for block in message.content if block.type == "thinking"]
    if want.thinking is None:
        assert thinking == []
    else:
        assert message.content[0].type == "thinking"  # thinking stays first and untouched by every policy
        assert [(b.thinking, b.signature) for b in thinking] == [(want.thinking, THINKING_SIGNATURE)]
    assert tool_uses(message) == want.calls
    assert_text(text_of(message), want)
    assert message.stop_reason == want.stop_reason
    assert message.model == model  # LiteLLM answers with the client's model group name


def assert_valid_stream(body: bytes) -> None:
    """The served bytes are a complete, well-formed Anthropic stream."""
    assert validate_anthropic_stream(parse(body)) == []


def content(scenario: str, marker: str) -> str:
    return f"hi scenario:{scenario} {marker}"


def ask(proxy: MessagesProxy, mode: str, model: str, scenario: str) -> tuple[Message, str]:
    """Send one request the way `mode` says; the message the client ends up with and the transaction id."""
    text = content(scenario, new_marker())
    if mode == "raw_stream":
        served = post_raw(proxy, messages_body(model, text, stream=True))
        assert served.status_code == 200, served.body
        assert_valid_stream(served.body)
        return accumulate(served.body), served.transaction_id
    messages = [{"role": "user", "content": text}]
    with sdk_client(proxy) as (client, tee):
        if mode == "sdk_stream":
            with client.messages.stream(model=model, max_tokens=256, messages=messages, tools=TOOLS) as stream:
                message = stream.get_final_message()
                transaction_id = stream.response.headers["x-luthien-transaction-id"]
            raw = bytes(tee.bodies[-1])
            assert_valid_stream(raw)
            assert accumulate(raw) == message
            return message, transaction_id
        response = client.messages.with_raw_response.create(model=model, max_tokens=256, messages=messages, tools=TOOLS)
        return response.parse(), response.headers["x-luthien-transaction-id"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(("backend", "scenario"), CASES)
def test_policy_over_messages(
    messages_proxy: MessagesProxy, backend: str, scenario: str, policy: str, mode: str
) -> None:
    model = f"{backend}-{policy}"
    message, _ = ask(messages_proxy, mode, model, scenario)
    assert_message(message, expected(policy, scenario), model)


# ----- byte-exact passthrough -----


def upstream_bytes(proxy: MessagesProxy, marker: str) -> tuple[bytes, str]:
    """The exact bytes the fake sent for the request carrying `marker`, and the model it named.

    Rebuilt from what the fake received, with the fake's own id seed (see `UpstreamState.record`).
    """
    request = proxy.upstream_request(marker)
    assert request.path == "/v1/messages" and request.body["stream"] is True
    body = {k: v for k, v in request.body.items() if k not in ("stream", "stream_options")}
    seed = hashlib.sha256(dumps([body, proxy.repeat_count(request)]).encode()).hexdigest()
    scenario = build_scenario(request.options, "anthropic")
    model = str(request.body["model"])
    return b"".join(anthropic_stream_events(scenario, Ids(seed), model)), model


@pytest.mark.parametrize(
    "scenario", ["text", "tool_calls", "parallel_tool_calls", "thinking", "redacted_thinking", "max_tokens"]
)
def test_passthrough_is_byte_exact(messages_proxy: MessagesProxy, scenario: str) -> None:
    marker = new_marker()
    group = "anthropic-passthrough"
    served = post_raw(messages_proxy, messages_body(group, content(scenario, marker), stream=True))
    assert served.status_code == 200, served.body
    sent, upstream_model = upstream_bytes(messages_proxy, marker)
    # LiteLLM restamps `model` in `message_start` with the client's model group name (stock LiteLLM does
    # the same without the plugin); that one value is the only allowed difference.
    upstream_stamp, served_stamp = f'"model":"{upstream_model}"'.encode(), f'"model":"{group}"'.encode()
    first_end = sent.index(b"\n\n") + 2
    assert sent[:first_end].startswith(b"event: message_start\n") and sent[:first_end].count(upstream_stamp) == 1
    assert served.body == sent[:first_end].replace(upstream_stamp, served_stamp) + sent[first_end:]
    [done] = completions(messages_proxy.events(served.transaction_id))  # the plugin did run over this stream
    assert (done["status"], done["policy"]) == ("success", "passthrough")


# ----- recording -----


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("backend", ["anthropic", "openai"])
def test_recording(messages_proxy: MessagesProxy, backend: str, stream: bool) -> None:
    model = f"{backend}-all_caps"
    served: Served = post_raw(messages_proxy, messages_body(model, content("text", new_marker()), stream=stream))
    assert served.status_code == 200, served.body
    message = accumulate(served.body) if stream else Message.model_validate(served.json())
    assert text_of(message) == TEXT.upper()
    transaction_id = served.transaction_id
    events = messages_proxy.events(transaction_id)
    [done] = completions(events)
    assert (done["status"], done["policy"], done["is_streaming"]) == ("success", "all_caps", stream)
    kind = "transaction.streaming_response_recorded" if stream else "transaction.non_streaming_response_recorded"
    [recorded] = [e["payload"] for e in events if e["event_type"] == kind]
    assert isinstance(recorded, dict)
    assert recorded_text(recorded["original_response"]) == TEXT
    assert recorded_text(recorded["final_response"]) == TEXT.upper()
    row = messages_proxy.transaction_row(transaction_id)
    assert (row["status"], row["policy"], row["is_streaming"]) == ("success", "all_caps", int(stream))
    assert recorded_text(json.loads(str(row["final_response"]))) == TEXT.upper()
    assert_no_secrets(messages_proxy, events)
    assert_no_secrets(messages_proxy, row)
