"""The fakes' scripted tool loop (`scenario:tool_loop`) and thinking-signature check, with the real SDKs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import anthropic
import openai
import pytest

from tests.fakes import THINKING, THINKING_SIGNATURE, FakeUpstream
from tests.fakes.scenarios import LEAD_IN, parse_options, tool_loop_answer, tool_loop_command, tool_result_text

PROMPT = "run it scenario:tool_loop tool:Bash token:abc123"
COMMAND = {"command": tool_loop_command("abc123")}
THINK = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream.running() as running:
        yield running


def anthropic_client(upstream: FakeUpstream) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=upstream.base_url, api_key="sk-fake", max_retries=0, timeout=10)


def openai_client(upstream: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{upstream.base_url}/v1", api_key="sk-fake", max_retries=0, timeout=10)


def test_tool_command_prints_the_token_and_leaves_a_file() -> None:
    assert tool_loop_command("abc123") == "echo abc123 | tee tool-ran-abc123.txt"
    assert tool_loop_answer("abc123\n") == "The command printed: abc123"


@pytest.mark.parametrize("thinking", [False, True])
def test_anthropic_tool_loop_calls_the_tool_then_quotes_its_result(upstream: FakeUpstream, thinking: bool) -> None:
    client = anthropic_client(upstream)
    extra: dict[str, Any] = {"thinking": THINK} if thinking else {}
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    with client.messages.stream(model="c", max_tokens=2048, messages=messages, **extra) as stream:
        first = stream.get_final_message()
    assert [block.type for block in first.content] == [*(["thinking"] if thinking else []), "text", "tool_use"]
    call = first.content[-1]
    assert call.type == "tool_use" and (call.name, call.input) == ("Bash", COMMAND)
    assert first.stop_reason == "tool_use"
    result = [
        {"type": "tool_result", "tool_use_id": call.id, "content": "abc123\n<system-reminder>x</system-reminder>"}
    ]
    messages += [{"role": "assistant", "content": [b.model_dump() for b in first.content]}]
    messages += [{"role": "user", "content": result}, {"role": "system", "content": "Claude Code puts this last"}]
    second = client.messages.create(model="c", max_tokens=2048, messages=messages, **extra)
    text = [block.text for block in second.content if block.type == "text"]
    assert text == ["The command printed: abc123"] and second.stop_reason == "end_turn"
    assert [block.type for block in second.content][:1] == (["thinking"] if thinking else ["text"])


def test_anthropic_fake_refuses_a_changed_thinking_signature(upstream: FakeUpstream) -> None:
    thinking = {"type": "thinking", "thinking": THINKING, "signature": THINKING_SIGNATURE[:-4] + "AAA="}
    messages: list[Any] = [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": [thinking, {"type": "text", "text": LEAD_IN}]},
        {"role": "user", "content": "go on"},
    ]
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature` in `thinking` block"):
        anthropic_client(upstream).messages.create(model="c", max_tokens=2048, messages=messages, thinking=THINK)
    messages[1]["content"][0] = {**thinking, "signature": THINKING_SIGNATURE}
    assert anthropic_client(upstream).messages.create(model="c", max_tokens=2048, messages=messages).content


def test_openai_tool_loop_calls_the_tool_then_quotes_its_result(upstream: FakeUpstream) -> None:
    client = openai_client(upstream)
    messages: list[Any] = [{"role": "user", "content": PROMPT.replace("tool:Bash", "tool:run_shell")}]
    with client.chat.completions.stream(model="gpt-fake", messages=messages) as stream:
        first = stream.get_final_completion().choices[0]
    assert first.finish_reason == "tool_calls" and first.message.content == LEAD_IN
    [call] = first.message.tool_calls or []
    assert call.type == "function"
    assert (call.function.name, json.loads(call.function.arguments)) == ("run_shell", COMMAND)
    messages += [
        first.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "abc123"},
    ]
    second = client.chat.completions.create(model="gpt-fake", messages=messages).choices[0]
    assert (second.message.content, second.finish_reason) == ("The command printed: abc123", "stop")


def test_options_come_from_the_latest_user_text_naming_a_scenario() -> None:
    body = {"messages": [{"role": "user", "content": PROMPT}, {"role": "user", "content": "no markers here"}]}
    options = parse_options(body)
    assert (options.scenario, options.tool, options.token, options.tool_result) == ("tool_loop", "Bash", "abc123", None)
    assert parse_options({"messages": [{"role": "user", "content": "hi"}]}).scenario == "text"


def test_tool_results_are_read_only_at_the_end_of_the_conversation() -> None:
    result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "x"}]}],
    }
    assert tool_result_text({"messages": [result]}) == "x"
    assert tool_result_text({"messages": [result, {"role": "assistant", "content": "ok"}]}) is None
    tool = {"role": "tool", "tool_call_id": "c", "content": "y"}
    assert tool_result_text({"messages": [{"role": "assistant", "content": None}, tool, tool]}) == "yy"
    assert tool_result_text({"messages": [{"role": "user", "content": "hi"}]}) is None
