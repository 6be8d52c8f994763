"""/v1/responses through the real proxy: backend × policy × how the client reads × scenario, passthrough
byte for byte as stock LiteLLM serves it, every route name, and what gets recorded."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from openai.types.responses import Response

from luthien_litellm_plugin.types import JSONObject
from tests.e2e.messages_proxy import (
    MessagesProxy,
    assert_no_secrets,
    completions,
    messages_fake,
    messages_proxy,
    new_marker,
    recorded_text,
)
from tests.e2e.policy_outcomes import POLICIES, Outcome, assert_text, outcome
from tests.e2e.responses_proxy import (
    PATHS,
    TOOLS,
    StockProxy,
    events_of,
    final_response,
    post_responses,
    responses_body,
    sdk_client,
    stock_proxy,
    valid_events,
)
from tests.fakes.common import Ids
from tests.fakes.responses_upstream import responses_stream_events
from tests.fakes.scenarios import (
    LEAD_IN,
    TEXT,
    THINKING,
    WEATHER,
    build_scenario,
    last_user_text,
)
from tests.responses_streams import accumulate, as_response, function_calls

pytestmark = pytest.mark.e2e
__all__ = ["messages_fake", "messages_proxy", "stock_proxy"]  # the session fixtures this module uses

MODES = ["raw_stream", "sdk_stream", "sdk_create"]
"""raw_stream: httpx bytes; sdk_stream: `responses.stream()` + `get_final_response()`; sdk_create: not streamed."""
CASES = [
    (backend, scenario)
    for backend in ("openai", "anthropic")
    for scenario in ("text", "tool_calls", "parallel_tool_calls", "tool_only", "thinking")
    if scenario != "thinking" or backend == "openai"  # reasoning items come from the Responses API itself
]


def assert_response(response: Response, want: Outcome, reasoning: str | None) -> None:
    """The client-side response matches what the policy should have made of the upstream's answer."""
    assert response.status == "completed"
    assert function_calls(response) == want.calls
    assert_text(response.output_text, want)
    summaries = [[s.text for s in item.summary] for item in response.output if item.type == "reasoning"]
    assert summaries == ([[reasoning]] if reasoning is not None else [])  # reasoning passes untouched
    assert response.usage is not None and response.usage.input_tokens > 0
    assert all(item.call_id for item in response.output if item.type == "function_call")


def content(scenario: str, marker: str) -> str:
    return f"hi scenario:{scenario} {marker}"


def ask(proxy: MessagesProxy, mode: str, model: str, scenario: str) -> tuple[Response, str]:
    """Send one request the way `mode` says; the response the client ends up with and the transaction id."""
    text = content(scenario, new_marker())
    if mode == "raw_stream":
        served = post_responses(proxy, responses_body(model, text, stream=True))
        assert served.status_code == 200, served.body
        return final_response(served.body), served.transaction_id
    with sdk_client(proxy) as (client, tee):
        tools: list = TOOLS  # type: ignore[type-arg]
        if mode == "sdk_stream":
            with client.responses.stream(model=model, input=text, tools=tools) as stream:
                response = stream.get_final_response()
            transaction_id = tee.headers[-1]["x-luthien-transaction-id"]
            raw = bytes(tee.bodies[-1])
            assert accumulate(valid_events(raw)).output_text == response.output_text
            return response, transaction_id
        raw_response = client.responses.with_raw_response.create(model=model, input=text, tools=tools)
        return raw_response.parse(), raw_response.headers["x-luthien-transaction-id"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(("backend", "scenario"), CASES)
def test_policy_over_responses(
    messages_proxy: MessagesProxy, backend: str, scenario: str, policy: str, mode: str
) -> None:
    response, _ = ask(messages_proxy, mode, f"{backend}-{policy}", scenario)
    assert_response(response, outcome(policy, scenario), THINKING if scenario == "thinking" else None)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("stream", [True, False])
def test_every_route_name_runs_the_policy(messages_proxy: MessagesProxy, path: str, stream: bool) -> None:
    served = post_responses(
        messages_proxy, responses_body("openai-all_caps", content("text", new_marker()), stream=stream), path
    )
    assert served.status_code == 200, served.body
    response = final_response(served.body) if stream else as_response(served.json())
    assert response.output_text == TEXT.upper()
    [done] = completions(messages_proxy.events(served.transaction_id))
    assert (done["status"], done["policy"]) == ("success", "all_caps")


# ----- passthrough: exactly what stock LiteLLM serves -----


def upstream_events(proxy: MessagesProxy, marker: str) -> list[JSONObject]:
    """The events the fake sent for the requests carrying `marker`: one from each proxy, both the same
    (passthrough sends the client's request on unchanged), with the ids the `seed:` knob fixes."""
    found = [r for r in proxy.fake.requests if marker in last_user_text(r.body)]
    assert len(found) == 2 and found[0].body == found[1].body, [r.body for r in found]
    request = found[0]
    assert request.path == "/v1/responses" and request.body["stream"] is True
    assert request.options.seed is not None
    scenario = build_scenario(request.options, "responses")
    raw = responses_stream_events(scenario, Ids(_seed(request.options.seed)), str(request.body["model"]), request.body)
    return [json.loads(line.split(b"\ndata: ", 1)[1]) for line in raw]


def _seed(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _without_response_ids(body: bytes) -> bytes:
    ids = set(re.findall(rb'"id":"(resp_[^"]+)"', body))
    assert len(ids) == 1, ids  # one response id, the same in every event that carries it
    return body.replace(ids.pop(), b"resp_ID")


def _without_nulls(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@pytest.mark.parametrize(
    "scenario", ["text", "tool_calls", "parallel_tool_calls", "tool_only", "thinking", "max_tokens"]
)
def test_passthrough_serves_the_bytes_stock_litellm_serves(
    messages_proxy: MessagesProxy, stock_proxy: StockProxy, scenario: str
) -> None:
    marker, seed = new_marker(), f"seed:{new_marker()[4:]}"
    body = responses_body("openai-passthrough", f"hi scenario:{scenario} {seed} {marker}", stream=True)
    body["include"] = ["reasoning.encrypted_content"]
    ours, stock = post_responses(messages_proxy, body), post_responses(stock_proxy, body)
    assert ours.status_code == stock.status_code == 200, (ours.body, stock.body)
    # LiteLLM encrypts the response id with a fresh nonce each time (its responses-id security hook),
    # so the ids differ on every call, stock or not; every other byte is the same.
    assert _without_response_ids(ours.body) == _without_response_ids(stock.body)
    # Stock LiteLLM re-serializes each event (no `event:` lines, nulls left out, its `model` stamp, an id
    # that encodes the deployment, a cost in the usage); everything the upstream said is there, event for event.
    served, sent = events_of(ours.body), [_without_nulls(e) for e in upstream_events(messages_proxy, marker)]
    assert len(served) == len(sent)
    for ours_event, upstream_event in zip(served, sent, strict=True):
        assert isinstance(upstream_event, dict)
        assert ours_event.pop("model") == "openai-passthrough"
        response, upstream_response = ours_event.pop("response", None), upstream_event.pop("response", None)
        assert ours_event == upstream_event
        if isinstance(response, dict) and isinstance(upstream_response, dict):
            assert (
                response["output"] == upstream_response["output"] and response["status"] == upstream_response["status"]
            )
    [done] = completions(messages_proxy.events(ours.transaction_id))  # the plugin did run over this stream
    assert (done["status"], done["policy"]) == ("success", "passthrough")


# ----- recording -----


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_recording(messages_proxy: MessagesProxy, backend: str, stream: bool) -> None:
    model = f"{backend}-all_caps"
    marker = new_marker()
    served = post_responses(messages_proxy, responses_body(model, content("tool_calls", marker), stream=stream))
    assert served.status_code == 200, served.body
    response = final_response(served.body) if stream else as_response(served.json())
    assert response.output_text == LEAD_IN.upper()
    transaction_id = served.transaction_id
    events = messages_proxy.events(transaction_id)
    [request] = [e["payload"] for e in events if e["event_type"] == "transaction.request_recorded"]
    assert isinstance(request, dict) and request["api"] == "responses"
    [done] = completions(events)
    assert (done["status"], done["policy"], done["is_streaming"]) == ("success", "all_caps", stream)
    kind = "transaction.streaming_response_recorded" if stream else "transaction.non_streaming_response_recorded"
    [recorded] = [e["payload"] for e in events if e["event_type"] == kind]
    assert isinstance(recorded, dict)
    assert recorded_text(recorded["original_response"]) == LEAD_IN
    assert recorded_text(recorded["final_response"]) == LEAD_IN.upper()
    row = messages_proxy.transaction_row(transaction_id)
    assert (row["status"], row["policy"], row["is_streaming"]) == ("success", "all_caps", int(stream))
    final = json.loads(str(row["final_response"]))
    assert recorded_text(final) == LEAD_IN.upper()
    assert [c["function"]["name"] for c in final["choices"][0]["message"]["tool_calls"]] == [WEATHER.name]
    assert final["usage"]["prompt_tokens"] >= 42 and json.loads(str(row["usage"]))["prompt_tokens"] >= 42
    assert not [e for e in events if e["event_type"] == "stream.protocol_violation"]
    upstream = messages_proxy.upstream_request(marker)
    assert "luthien" not in json.dumps(upstream.body), "nothing of ours goes upstream"
    assert_no_secrets(messages_proxy, events)
    assert_no_secrets(messages_proxy, row)


@pytest.mark.parametrize("stream", [True, False])
def test_the_cursor_route_runs_the_policy_and_answers_in_chat_format(
    messages_proxy: MessagesProxy, stream: bool
) -> None:
    """LiteLLM's Cursor route takes Responses-shaped requests (hooks see `aresponses`) and answers in
    chat-completions format (its streams reach the hook as chat chunks)."""
    marker = new_marker()
    body = {"model": "openai-all_caps", "input": [{"role": "user", "content": content("tool_calls", marker)}]}
    served = post_responses(messages_proxy, {**body, "stream": stream, "tools": TOOLS}, "/cursor/chat/completions")
    assert served.status_code == 200, served.body
    if stream:
        chunks = [json.loads(frame[len("data: ") :]) for frame in events_of_chat(served.body)]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        names = [
            call["function"]["name"]
            for c in chunks
            if c["choices"]
            for call in c["choices"][0]["delta"].get("tool_calls") or []
            if call.get("function", {}).get("name")
        ]
    else:
        message = served.json()["choices"][0]["message"]  # type: ignore[index]
        text, names = message["content"], [call["function"]["name"] for call in message["tool_calls"]]
    assert (text, names) == (LEAD_IN.upper(), [WEATHER.name])
    events = messages_proxy.events(served.transaction_id)
    [request] = [e["payload"] for e in events if e["event_type"] == "transaction.request_recorded"]
    [done] = completions(events)
    assert isinstance(request, dict) and (request["api"], done["status"]) == ("cursor", "success")


def events_of_chat(body: bytes) -> list[str]:
    frames = [frame for frame in body.decode().split("\n\n") if frame]
    assert frames[-1] == "data: [DONE]"
    return [frame for frame in frames[:-1] if frame.startswith("data: ")]
