"""Judge policies through the real proxy: `tool_call_judge`, `llm_rule` and chains, on chat and
/v1/messages, streamed and not, on OpenAI and Anthropic backends, with the judge model a model
group of the same proxy (a fake that answers from what it is asked)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.e2e.judges_proxy import (
    JUDGE_MODELS,
    MESSAGES_TOOLS,
    OPENAI_TOOLS,
    ask,
    judge_calls_about,
    judge_fake,
    judges_proxy,
    new_tag,
    openai_client,
    transaction_models,
    verdicts,
)
from tests.e2e.messages_proxy import MessagesProxy, new_marker, post_raw, recorded_status, sdk_client
from tests.e2e.sse import stream_chat
from tests.e2e.test_recording import feed_events
from tests.fakes.scenarios import LEAD_IN, SECRET, tool_loop_answer, tool_loop_command
from tests.fakes.server import FakeUpstream
from tests.integration.conftest import require_service

pytestmark = pytest.mark.e2e
__all__ = ["judge_fake", "judges_proxy"]  # the package fixtures this module uses

APIS = ("chat", "messages")
BACKENDS = ("openai", "anthropic")
BASH_NOTICE = "[judged: blocked a call to 'bash' (probability 0.97): deletes files recursively]"
STOPS = {"chat": "tool_calls", "messages": "tool_use"}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)  # another process's progress; bounded by the deadline


def only(found: list[dict[str, object]], **wanted: object) -> dict[str, object]:
    [match] = [item for item in found if all(item.get(key) == value for key, value in wanted.items())]
    return match


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "complete"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("api", APIS)
def test_a_dangerous_call_is_blocked_and_the_safe_ones_are_kept(
    judges_proxy: MessagesProxy, judge_fake: FakeUpstream, api: str, backend: str, stream: bool
) -> None:
    tag, marker = new_tag(), new_marker()
    answer = ask(
        judges_proxy, api, f"{backend}-judged", f"scenario:parallel_tool_calls tag:{tag} {marker}", stream=stream
    )
    assert answer.call_names == ["get_weather", "get_time"]
    assert answer.calls[0][1] == {"location": "Paris", "unit": "celsius", "tag": tag}
    assert answer.text.startswith(LEAD_IN) and BASH_NOTICE in answer.text
    assert answer.stop == STOPS[api]
    transaction = judges_proxy.transaction_for(marker)
    found = verdicts(judges_proxy, transaction)
    assert sorted(v["tool_name"] for v in found) == ["bash", "get_time", "get_weather"]
    bash = only(found, tool_name="bash")
    assert {
        k: bash[k] for k in ("policy", "probability", "explanation", "blocked", "reason", "judge_model", "cached")
    } == {
        "policy": "judged",
        "probability": 0.97,
        "explanation": "deletes files recursively",
        "blocked": True,
        "reason": "probability 0.97 >= threshold 0.6",
        "judge_model": "judge",
        "cached": False,
    }
    assert isinstance(bash["latency_ms"], float) and bash["error"] is None
    assert only(found, tool_name="get_weather")["blocked"] is False
    asked = judge_calls_about(judge_fake, tag)
    assert len(asked) == 3  # each call its own judge request, each with its arguments
    [bash_prompt] = [call.prompt for call in asked if "<tool_name>\nbash\n</tool_name>" in call.prompt]
    arguments = bash_prompt.split("<arguments>\n", 1)[1].split("\n</arguments>", 1)[0]
    assert json.loads(arguments) == {"command": "rm -rf /tmp/x", "tag": tag}
    assert recorded_status(judges_proxy, transaction) == ("success", None)
    # the judge calls went through the router as the plugin's own calls: no transaction, nothing refused
    assert not set(JUDGE_MODELS) & set(transaction_models(judges_proxy))
    assert not [e for e in judges_proxy.events(transaction) if e["event_type"] == "deployment.refused"]


def test_verdicts_reach_the_database_and_the_live_feed(judges_proxy: MessagesProxy) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    marker = new_marker()
    ask(judges_proxy, "chat", "openai-judged", f"scenario:dangerous_call tag:{new_tag()} {marker}", stream=True)
    transaction = judges_proxy.transaction_for(marker)
    [verdict] = verdicts(judges_proxy, transaction)
    on_feed = [e["payload"] for e in feed_events(transaction) if e["event_type"] == "policy.judge_verdict"]
    assert on_feed == [verdict]
    with sqlite3.connect(judges_proxy.database) as db:
        rows = db.execute(
            "SELECT payload FROM events WHERE transaction_id = ? AND event_type = 'policy.judge_verdict'",
            (transaction,),
        ).fetchall()
    assert [json.loads(row[0]) for row in rows] == [verdict]


@pytest.mark.parametrize("api", APIS)
def test_text_before_the_call_reaches_the_client_before_the_judge_answers(
    judges_proxy: MessagesProxy, judge_fake: FakeUpstream, api: str
) -> None:
    tag = new_tag()
    content = f"scenario:dangerous_call tag:{tag} {new_marker()}"
    received = ""

    def judge_is_still_deciding() -> None:
        wait_for(lambda: len(judge_calls_about(judge_fake, tag)) == 1, "the judge to be asked")
        [call] = judge_calls_about(judge_fake, tag)
        assert call.answered is None

    judge_fake.close_judge_gate()
    try:
        if api == "chat":
            chunks = openai_client(judges_proxy).chat.completions.create(
                model="openai-judged_gated",
                messages=[{"role": "user", "content": content}],
                tools=OPENAI_TOOLS,
                stream=True,  # type: ignore[arg-type]
            )
            for chunk in chunks:
                received += (chunk.choices[0].delta.content or "") if chunk.choices else ""
                if received == LEAD_IN:
                    judge_is_still_deciding()
                    judge_fake.open_judge_gate()
        else:
            with sdk_client(judges_proxy) as (client, _):
                request = {"model": "anthropic-judged_gated", "max_tokens": 256, "tools": MESSAGES_TOOLS}
                with client.messages.stream(messages=[{"role": "user", "content": content}], **request) as events:  # type: ignore[arg-type]
                    for event in events:
                        if event.type == "content_block_delta" and event.delta.type == "text_delta":
                            received += event.delta.text
                            if received == LEAD_IN:
                                judge_is_still_deciding()
                                judge_fake.open_judge_gate()
    finally:
        judge_fake.open_judge_gate()
    assert received.startswith(LEAD_IN) and "[judged_gated: blocked a call to 'bash'" in received
    [call] = judge_calls_about(judge_fake, tag)
    assert call.answered is not None


@pytest.mark.parametrize("api", APIS)
def test_the_calls_of_one_response_are_judged_concurrently(
    judges_proxy: MessagesProxy, judge_fake: FakeUpstream, api: str
) -> None:
    """Each judge call takes 2.5 s, longer than the proxy's 2 s idle timeout: the held stream
    neither times out (a pending judge call within its own timeout counts as activity) nor takes
    the sum of both calls."""
    tag, marker = new_tag(), new_marker()
    started = time.monotonic()
    answer = ask(
        judges_proxy, api, "openai-judged_slow", f"scenario:two_dangerous_calls tag:{tag} {marker}", stream=True
    )
    elapsed = time.monotonic() - started
    assert answer.call_names == []
    assert "blocked a call to 'bash'" in answer.text and "blocked a call to 'run'" in answer.text
    asked = judge_calls_about(judge_fake, tag)
    assert len(asked) == 2
    answered = [call.answered for call in asked]
    assert None not in answered
    first_answer = min(a for a in answered if a is not None)
    assert all(call.received < first_answer for call in asked)  # both asked before either answered
    held = max(a for a in answered if a is not None) - min(call.received for call in asked)
    assert 2.5 <= held < 3.75, held  # about the slowest judge call (2.5 s), not the sum (5 s)
    print(f"\n{api}: two calls judged in {held:.2f} s (each 2.5 s); request took {elapsed:.2f} s")
    assert recorded_status(judges_proxy, judges_proxy.transaction_for(marker)) == ("success", None)


def test_chat_clients_get_sse_comment_keepalives_while_the_judge_holds(judges_proxy: MessagesProxy) -> None:
    body = {
        "model": "openai-judged_slow",
        "messages": [{"role": "user", "content": f"scenario:dangerous_call tag:{new_tag()}"}],
    }
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            f"{judges_proxy.base_url}/v1/chat/completions",
            headers=judges_proxy.headers,
            json={**body, "stream": True},
        ) as response,
    ):
        raw = b"".join(response.iter_raw())
    assert response.status_code == 200
    assert raw.count(b"\n: ping\n\n") + raw.startswith(b": ping\n\n") >= 3, raw  # a 2.5 s hold, a keepalive every 0.5 s
    frames = [line for line in raw.decode().split("\n\n") if line.startswith("data: ") and line != "data: [DONE]"]
    assert all("error" not in json.loads(frame[len("data: ") :]) for frame in frames)
    # and the official SDK reads such a stream as usual (test_the_calls_of_one_response_are_judged_concurrently)


def test_messages_clients_get_ping_events_while_the_judge_holds(judges_proxy: MessagesProxy) -> None:
    served = post_raw(
        judges_proxy,
        {
            "model": "anthropic-judged_slow",
            "max_tokens": 256,
            "stream": True,
            "messages": [{"role": "user", "content": f"scenario:dangerous_call tag:{new_tag()}"}],
        },
    )
    assert served.status_code == 200
    text = served.body.decode()
    assert text.count("event: ping\n") >= 3
    assert text.index("event: ping") < text.index("blocked a call to 'bash'") < text.index("event: message_stop")


@pytest.mark.parametrize("api", APIS)
def test_sdks_read_a_stream_held_before_its_first_event(judges_proxy: MessagesProxy, api: str) -> None:
    """A response that starts with its tool calls is held from the start: keepalives come before
    any event (`event: ping` before `message_start`, `: ping` before the first chunk)."""
    content, raw = f"scenario:tool_only tag:{new_tag()}", f"scenario:tool_only tag:{new_tag()}"  # no cache hits
    answer = ask(judges_proxy, api, "openai-judged_slow", content, stream=True)
    assert answer.call_names == ["get_weather"] and "blocked a call to 'bash'" in answer.text
    if api == "messages":
        body = {"model": "openai-judged_slow", "max_tokens": 256, "stream": True}
        served = post_raw(judges_proxy, {**body, "messages": [{"role": "user", "content": raw}]})
        assert served.body.startswith(b"event: ping\n")
    else:
        body = {
            "model": "openai-judged_slow",
            "stream": True,
            "messages": [{"role": "user", "content": raw}],
        }
        with (
            httpx.Client(timeout=30) as client,
            client.stream(
                "POST", f"{judges_proxy.base_url}/v1/chat/completions", headers=judges_proxy.headers, json=body
            ) as response,
        ):
            assert b"".join(response.iter_raw()).startswith(b": ping\n\n")


FAILURES = [
    ("judged_timeout", "the judge did not answer within 1s"),
    ("judged_500", "the judge call failed: InternalServerError"),
    ("judged_garbage", "unusable judge answer: no JSON object in the judge's answer"),
]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("policy", "failure"), FAILURES, ids=[policy for policy, _ in FAILURES])
def test_a_judge_that_fails_blocks_the_call_with_the_reason_recorded(
    judges_proxy: MessagesProxy, api: str, policy: str, failure: str
) -> None:
    marker = new_marker()
    answer = ask(judges_proxy, api, f"openai-{policy}", f"scenario:tool_calls tag:{new_tag()} {marker}", stream=True)
    assert answer.call_names == []  # a harmless call, but the judge could not clear it: fail closed
    assert f"[{policy}: blocked a call to 'get_weather' (probability n/a): {failure}" in answer.text
    [verdict] = verdicts(judges_proxy, judges_proxy.transaction_for(marker))
    assert verdict["blocked"] is True and verdict["probability"] is None
    assert str(verdict["error"]).startswith(failure)
    assert str(verdict["reason"]).endswith("; blocked (on_error: block)")


@pytest.mark.parametrize("api", APIS)
def test_on_error_allow_lets_the_call_through_and_records_it_as_allowed_on_error(
    judges_proxy: MessagesProxy, api: str
) -> None:
    marker = new_marker()
    answer = ask(
        judges_proxy, api, "anthropic-judged_allow", f"scenario:dangerous_call tag:{new_tag()} {marker}", stream=True
    )
    assert answer.call_names == ["bash"]
    [verdict] = verdicts(judges_proxy, judges_proxy.transaction_for(marker))
    assert verdict["blocked"] is False
    assert str(verdict["error"]).startswith("the judge call failed: InternalServerError")
    assert str(verdict["reason"]).endswith("; allowed (on_error: allow)")


def test_identical_calls_are_answered_from_the_cache(judges_proxy: MessagesProxy, judge_fake: FakeUpstream) -> None:
    tag, first, second = new_tag(), new_marker(), new_marker()
    for marker, stream in ((first, True), (second, False)):
        answer = ask(
            judges_proxy, "chat", "openai-judged", f"scenario:dangerous_call tag:{tag} {marker}", stream=stream
        )
        assert BASH_NOTICE in answer.text and answer.call_names == []
    assert len(judge_calls_about(judge_fake, tag)) == 1
    [asked] = verdicts(judges_proxy, judges_proxy.transaction_for(first))
    [remembered] = verdicts(judges_proxy, judges_proxy.transaction_for(second))
    assert (asked["cached"], remembered["cached"]) == (False, True)
    assert {k: remembered[k] for k in ("blocked", "probability", "explanation")} == {
        k: asked[k] for k in ("blocked", "probability", "explanation")
    }


@pytest.mark.parametrize("api", APIS)
def test_block_response_refuses_the_whole_response(judges_proxy: MessagesProxy, api: str) -> None:
    content = f"scenario:dangerous_call tag:{new_tag()}"
    if api == "chat":
        with pytest.raises(openai.BadRequestError) as refused:
            ask(judges_proxy, api, "openai-judged_refuse", content, stream=False)
        with httpx.Client(timeout=30) as client:
            served = stream_chat(
                client,
                judges_proxy.base_url,
                judges_proxy.headers,
                {"model": "openai-judged_refuse", "messages": [{"role": "user", "content": content + " again"}]},
            )
        [error] = served.errors  # the lead-in had gone out: the refusal comes in-band
        assert error["type"] == "policy_blocked" and "judged_refuse" in str(error["message"])
    else:
        with pytest.raises(anthropic.BadRequestError) as refused:
            ask(judges_proxy, api, "anthropic-judged_refuse", content, stream=False)
        with pytest.raises(anthropic.APIStatusError, match="judged_refuse"):
            ask(judges_proxy, api, "anthropic-judged_refuse", content + " again", stream=True)
    assert "Blocked by policy 'judged_refuse': blocked a call to 'bash': probability 0.97" in str(refused.value)


def test_a_judge_answer_wrapped_in_prose_and_fences_is_understood(judges_proxy: MessagesProxy) -> None:
    answer = ask(
        judges_proxy, "messages", "openai-judged_chatty", f"scenario:parallel_tool_calls tag:{new_tag()}", stream=False
    )
    assert answer.call_names == ["get_weather", "get_time"]


# ----- llm_rule and chains -----


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "complete"])
@pytest.mark.parametrize("api", APIS)
def test_llm_rule_replaces_what_breaks_the_rule(judges_proxy: MessagesProxy, api: str, stream: bool) -> None:
    marker = new_marker()
    answer = ask(judges_proxy, api, "openai-no_keys", f"scenario:mixed_calls tag:{new_tag()} {marker}", stream=stream)
    assert SECRET not in answer.text and "Here is the key [redacted], cleaning up now." in answer.text
    assert answer.call_names == ["bash", "get_weather"]  # `run` asked for rm -rf: the rule's judge blocked it
    assert "[no_keys: withheld a call to 'run': the output runs a destructive command]" in answer.text
    found = verdicts(judges_proxy, judges_proxy.transaction_for(marker))
    assert only(found, tool_name="text")["action"] == "replace"
    assert only(found, tool_name="run")["action"] == "block" and only(found, tool_name="run")["blocked"] is True
    assert only(found, tool_name="bash")["action"] == "pass"


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "complete"])
@pytest.mark.parametrize("api", APIS)
def test_a_chain_of_three_each_acting(
    judges_proxy: MessagesProxy, judge_fake: FakeUpstream, api: str, stream: bool
) -> None:
    """guarded = [no_shell, judged, no_keys]: no_shell drops bash (the judge never sees it), the
    judge blocks `run` (rm -rf), the rule redacts the key in the text."""
    tag, marker = new_tag(), new_marker()
    answer = ask(judges_proxy, api, "anthropic-guarded", f"scenario:mixed_calls tag:{tag} {marker}", stream=stream)
    assert answer.call_names == ["get_weather"]
    assert SECRET not in answer.text and "[redacted]" in answer.text
    assert "[no_shell: blocked a call to 'bash': tool 'bash' is not allowed]" in answer.text
    assert "[judged: blocked a call to 'run' (probability 0.97): deletes files recursively]" in answer.text
    asked = [call for call in judge_calls_about(judge_fake, tag) if "<tool_name>" in call.prompt]
    assert sorted(call.prompt.split("<tool_name>\n")[1].split("\n")[0] for call in asked) == ["get_weather", "run"]
    found = verdicts(judges_proxy, judges_proxy.transaction_for(marker))
    assert {(v["policy"], v["tool_name"]) for v in found} >= {
        ("judged", "run"),
        ("judged", "get_weather"),
        ("no_keys", "get_weather"),
        ("no_keys", "text"),
    }
    assert ("no_keys", "run") not in {(v["policy"], v["tool_name"]) for v in found}  # dropped before the rule


def test_text_upper_cased_by_the_first_policy_is_what_the_rule_judges(
    judges_proxy: MessagesProxy, judge_fake: FakeUpstream
) -> None:
    tag = new_tag()
    answer = ask(judges_proxy, "chat", "openai-shouted_rule", f"scenario:mixed_calls tag:{tag}", stream=True)
    assert answer.text.startswith("HERE IS THE KEY [redacted], CLEANING UP NOW.")
    rule_prompts = [
        call.prompt for call in judge_fake.judge_calls if "<rule>" in call.prompt and "HERE IS THE KEY" in call.prompt
    ]
    assert rule_prompts and SECRET.upper() in rule_prompts[-1]


# ----- a real agent loop -----


def run_tool(command: str, cwd: Path) -> str:
    """What an agent does with a bash tool call: run it."""
    done = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True, timeout=30, check=False)
    return done.stdout + done.stderr


def test_an_anthropic_sdk_agent_loop_never_runs_the_blocked_rm_rf_and_runs_the_safe_command(
    judges_proxy: MessagesProxy, tmp_path: Path
) -> None:
    token = new_tag()
    victim = tmp_path / f"victim-{token}"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    prompt = f"Clean up, then run the echo. scenario:tool_loop tool:bash token:{token} danger:victim-{token}"
    messages: list[dict[str, object]] = [{"role": "user", "content": prompt}]
    ran: list[str] = []
    with sdk_client(judges_proxy) as (client, _):
        for _turn in range(4):
            with client.messages.stream(
                model="anthropic-judged", max_tokens=512, tools=MESSAGES_TOOLS, messages=messages
            ) as events:  # type: ignore[arg-type]
                message = events.get_final_message()
            messages.append({"role": "assistant", "content": [block.model_dump() for block in message.content]})
            if message.stop_reason != "tool_use":
                break
            results = []
            for block in message.content:
                if block.type == "tool_use":
                    command = str(dict(block.input)["command"])  # type: ignore[arg-type]
                    ran.append(command)
                    results.append(
                        {"type": "tool_result", "tool_use_id": block.id, "content": run_tool(command, tmp_path)}
                    )
            messages.append({"role": "user", "content": results})
    assert ran == [tool_loop_command(token)]  # the safe command ran; rm -rf never reached the agent
    assert (tmp_path / f"tool-ran-{token}.txt").read_text() == f"{token}\n"
    assert (victim / "precious.txt").read_text() == "keep me"
    first_text = "".join(block["text"] for block in messages[1]["content"] if block["type"] == "text")  # type: ignore[index,union-attr]
    assert "[judged: blocked a call to 'bash' (probability 0.97)" in first_text
    final = "".join(block["text"] for block in messages[-1]["content"] if block["type"] == "text")  # type: ignore[index,union-attr]
    assert final == tool_loop_answer(token)
