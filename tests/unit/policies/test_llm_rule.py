"""llm_rule as a library: pass, replace or block each text block and tool call; failing closed."""

from __future__ import annotations

import json
import re

import pytest
from litellm.types.utils import ModelResponse, ModelResponseStream

from luthien_litellm_plugin.events import POLICY_JUDGE_VERDICT, InMemoryEventSink
from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies.llm_rule import LLMRuleOptions, LLMRulePolicy
from tests.streams import SPAN, assert_valid_egress, chunk, iterate, request, served_text, served_tool_calls
from tests.unit.policies.judge_fakes import ScriptedJudge

RULE = "Replace anything that looks like an API key with [redacted]."
KEY = re.compile(r"sk-\w+")


def redacting(prompt: str) -> str:
    """A judge that redacts keys, blocks rm -rf, passes the rest (what the rule says)."""
    output = prompt.split("<output>\n", 1)[1].split("\n</output>", 1)[0]
    if "rm -rf" in output:
        return '{"action": "block", "explanation": "destructive"}'
    if KEY.search(output):
        return json.dumps({"action": "replace", "replacement": KEY.sub("[redacted]", output), "explanation": "a key"})
    return '{"action": "pass"}'


STREAM = [
    chunk("My key is ", role="assistant"),
    chunk("sk-abc123, use it."),
    chunk(tool_call=(0, "call_e", "send_email", '{"body": "key sk-abc123"}')),
    chunk(tool_call=(1, "call_r", "run", '{"command": "rm -rf /"}')),
    chunk(tool_call=(2, "call_w", "get_weather", "{}")),
    chunk(finish_reason="tool_calls"),
]


def rule_policy(**options: object) -> LLMRulePolicy:
    policy = LLMRulePolicy(LLMRuleOptions.model_validate({"judge_model": "judge", "instruction": RULE, **options}))
    policy.named("no_keys")
    return policy


async def served(
    policy: LLMRulePolicy, judge: LLMClient, chunks: list[ModelResponseStream], sink: InMemoryEventSink | None = None
) -> list[ModelResponseStream]:
    orchestrator = create_default_orchestrator(policy, judge, db_pool=sink)
    final = await orchestrator.process_request(request(), "txn", SPAN)
    items = [item async for item in orchestrator.stream_response(iterate(chunks), "txn", SPAN, final)]
    assert_valid_egress(items)
    return items


async def test_text_and_calls_are_passed_replaced_or_blocked_as_the_judge_says() -> None:
    sink = InMemoryEventSink()
    judge = ScriptedJudge(redacting)
    items = await served(rule_policy(), judge, STREAM, sink)
    assert served_text(items) == "My key is [redacted], use it.[no_keys: withheld a call to 'run': destructive]"
    assert served_tool_calls(items) == [
        {"id": "call_e", "name": "send_email", "arguments": '{"body": "key [redacted]"}'},
        {"id": "call_w", "name": "get_weather", "arguments": "{}"},
    ]
    assert RULE in judge.asked[0] and "<output>\nMy key is sk-abc123, use it.\n</output>" in judge.asked[0]
    found = {
        (e.payload["tool_name"], e.payload["action"], e.payload["blocked"]) for e in sink.of_type(POLICY_JUDGE_VERDICT)
    }
    assert found == {
        ("text", "replace", False),
        ("send_email", "replace", False),
        ("run", "block", True),
        ("get_weather", "pass", False),
    }


async def test_what_passes_goes_out_as_the_upstream_sent_it() -> None:
    upstream = [chunk("Hello ", role="assistant"), chunk("there."), chunk(finish_reason="stop")]
    items = await served(rule_policy(), ScriptedJudge(lambda prompt: '{"action": "pass"}'), upstream)
    assert [item.choices[0].delta.content for item in items if item.choices[0].delta.content] == ["Hello ", "there."]


async def test_a_replacement_given_as_an_object_is_the_calls_new_arguments() -> None:
    judge = ScriptedJudge(lambda prompt: '{"action": "replace", "replacement": {"body": "hi"}}')
    items = await served(rule_policy(), judge, [STREAM[2], STREAM[-1]])
    assert served_tool_calls(items)[0]["arguments"] == '{"body": "hi"}'


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ('{"action": "maybe"}', "no action pass, replace or block"),
        ('{"action": "replace", "replacement": "not json"}', "replacement arguments are not a JSON object"),
        ('{"action": "replace", "replacement": 7}', "replacement is not text"),
        ("no json at all", "no JSON object"),
    ],
)
async def test_an_unusable_answer_withholds_the_block(answer: str, error: str) -> None:
    sink = InMemoryEventSink()
    items = await served(rule_policy(), ScriptedJudge(lambda prompt: answer), [STREAM[2], STREAM[-1]], sink)
    assert served_tool_calls(items) == []
    assert "[no_keys: withheld a call to 'send_email': unusable judge answer" in served_text(items)
    [verdict] = [e.payload for e in sink.of_type(POLICY_JUDGE_VERDICT)]
    assert error in str(verdict["error"]) and verdict["blocked"] is True


async def test_on_error_allow_passes_what_could_not_be_judged() -> None:
    def fail(prompt: str) -> str:
        raise ConnectionError("down")

    sink = InMemoryEventSink()
    items = await served(rule_policy(on_error="allow"), ScriptedJudge(fail), [*STREAM[:2], STREAM[-1]], sink)
    assert served_text(items) == "My key is sk-abc123, use it."
    [verdict] = [e.payload for e in sink.of_type(POLICY_JUDGE_VERDICT)]
    assert verdict["reason"] == "the judge call failed: ConnectionError: down; allowed (on_error: allow)"


async def test_complete_responses_get_the_same_decisions() -> None:
    calls = [
        {"id": "call_e", "type": "function", "function": {"name": "send_email", "arguments": '{"body": "sk-1"}'}},
        {"id": "call_r", "type": "function", "function": {"name": "run", "arguments": '{"command": "rm -rf /"}'}},
    ]
    message = {"role": "assistant", "content": "key: sk-abc", "tool_calls": calls}
    original = ModelResponse(choices=[{"index": 0, "message": message, "finish_reason": "tool_calls"}])
    orchestrator = create_default_orchestrator(rule_policy(), ScriptedJudge(redacting))
    final = await orchestrator.process_request(request(stream=False), "txn", SPAN)
    result = (await orchestrator.apply_full_response(original, "txn", SPAN, final)).choices[0].message  # type: ignore[union-attr]
    assert result.content == "key: [redacted][no_keys: withheld a call to 'run': destructive]"
    assert [(c.function.name, c.function.arguments) for c in result.tool_calls] == [
        ("send_email", '{"body": "[redacted]"}')
    ]


def test_the_prompt_must_show_the_output() -> None:
    with pytest.raises(ValueError, match=re.escape("must contain {content}")):
        LLMRuleOptions.model_validate({"judge_model": "j", "instruction": "x", "prompt": "{instruction}"})
