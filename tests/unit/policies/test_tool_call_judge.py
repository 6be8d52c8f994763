"""tool_call_judge as a library: verdicts, concurrency, failing closed, the cache, both paths."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from litellm.types.utils import ModelResponse, ModelResponseStream
from pydantic import ValidationError

from luthien_litellm_plugin.errors import PolicyBlockedError
from luthien_litellm_plugin.events import POLICY_JUDGE_VERDICT, InMemoryEventSink
from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.llm.litellm_client import LiteLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies.tool_call_judge import ToolCallJudgeOptions, ToolCallJudgePolicy
from tests.streams import (
    SPAN,
    assert_valid_egress,
    chunk,
    finish_reasons,
    iterate,
    request,
    served_text,
    served_tool_calls,
)
from tests.unit.policies.judge_fakes import ScriptedJudge

WEATHER_ARGS = '{"city": "Paris"}'
BASH_ARGS = '{"command": "rm -rf /", "note": "{tool_name} \\"quoted\\"\\nnext line"}'
CALLS = [
    chunk("Let me check.", role="assistant"),
    chunk(tool_call=(0, "call_w", "get_weather", WEATHER_ARGS[:5])),
    chunk(tool_call=(0, None, None, WEATHER_ARGS[5:])),
    chunk(tool_call=(1, "call_b", "bash", BASH_ARGS)),
    chunk(finish_reason="tool_calls"),
]
NOTICE = "[judged: blocked a call to 'bash' (probability 0.90): deletes files]"


def judge_policy(**options: object) -> ToolCallJudgePolicy:
    policy = ToolCallJudgePolicy(ToolCallJudgeOptions.model_validate({"judge_model": "judge", **options}))
    policy.named("judged")
    return policy


async def served(
    policy: ToolCallJudgePolicy,
    judge: LLMClient,
    chunks: list[ModelResponseStream] | AsyncIterator[ModelResponseStream] = CALLS,
    sink: InMemoryEventSink | None = None,
    transaction_id: str = "txn",
) -> list[ModelResponseStream]:
    orchestrator = create_default_orchestrator(policy, judge, db_pool=sink)
    final = await orchestrator.process_request(request(), transaction_id, SPAN)
    upstream = iterate(chunks) if isinstance(chunks, list) else chunks
    items = [item async for item in orchestrator.stream_response(upstream, transaction_id, SPAN, final)]
    assert_valid_egress(items)
    return items


def verdicts(sink: InMemoryEventSink) -> list[dict[str, object]]:
    return [event.payload for event in sink.of_type(POLICY_JUDGE_VERDICT)]


async def test_a_dangerous_call_is_replaced_by_a_notice_and_a_safe_one_kept() -> None:
    sink = InMemoryEventSink()
    items = await served(judge_policy(), ScriptedJudge(), sink=sink)
    assert served_tool_calls(items) == [{"id": "call_w", "name": "get_weather", "arguments": WEATHER_ARGS}]
    assert served_text(items) == "Let me check." + NOTICE
    assert finish_reasons(items) == ["tool_calls"]
    found = {v["tool_name"]: v for v in verdicts(sink)}
    bash = found["bash"]
    assert {k: v for k, v in bash.items() if k != "latency_ms"} == {
        "policy": "judged",
        "tool_name": "bash",
        "probability": 0.9,
        "explanation": "deletes files",
        "blocked": True,
        "reason": "probability 0.90 >= threshold 0.6",
        "judge_model": "judge",
        "cached": False,
        "error": None,
    }
    assert isinstance(bash["latency_ms"], float)
    assert found["get_weather"]["blocked"] is False
    assert found["get_weather"]["reason"] == "probability 0.10 < threshold 0.6"


async def test_the_prompt_carries_the_tool_name_and_the_arguments_verbatim() -> None:
    judge = ScriptedJudge()
    await served(judge_policy(), judge)
    [bash_prompt] = [prompt for prompt in judge.asked if "<tool_name>\nbash\n" in prompt]
    assert f"<arguments>\n{BASH_ARGS}\n</arguments>" in bash_prompt  # placeholders inside are left alone
    assert judge.models == ["judge", "judge"]


async def test_a_custom_prompt_and_block_message() -> None:
    judge = ScriptedJudge(lambda prompt: '{"probability": 0.7, "explanation": "odd"}')
    policy = judge_policy(
        prompt="Tool {tool_name} with {arguments}?", block_message="{policy}|{tool_name}|{probability}|{reason}"
    )
    items = await served(policy, judge, [chunk(tool_call=(0, "c", "bash", "{}")), chunk(finish_reason="tool_calls")])
    assert judge.asked == ["Tool bash with {}?"]
    assert served_text(items) == "judged|bash|0.70|probability 0.70 >= threshold 0.6"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prompt": "no placeholder"}, "the prompt must contain {arguments}"),
        ({"block_message": "{nope}"}, "not a valid template"),
        ({"threshold": 1.5}, "less than or equal to 1"),
        ({"on_error": "maybe"}, "'block' or 'allow'"),
        ({"judge_model": ""}, "at least 1 character"),
    ],
)
def test_invalid_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ToolCallJudgeOptions.model_validate({"judge_model": "judge", **options})


async def test_the_calls_of_one_response_are_judged_concurrently_while_text_before_them_flows() -> None:
    gate = asyncio.Event()
    judge = ScriptedJudge(gate=gate)
    orchestrator = create_default_orchestrator(judge_policy(), judge)
    final = await orchestrator.process_request(request(), "txn", SPAN)
    stream = orchestrator.stream_response(iterate(CALLS), "txn", SPAN, final)
    assert served_text([await anext(stream)]) == "Let me check."  # before any verdict
    rest = asyncio.ensure_future(_drain(stream))
    while judge.waiting < 2:  # both calls at the judge at once
        await judge.arrived.wait()
        judge.arrived.clear()
    assert not rest.done()
    gate.set()
    assert served_text(await rest) == NOTICE


async def _drain(stream: AsyncIterator[ModelResponseStream]) -> list[ModelResponseStream]:
    return [item async for item in stream]


@pytest.mark.parametrize(
    ("answer", "probability"),
    [
        ('```json\n{"probability": 0.8, "explanation": "x"}\n```', 0.8),
        ('Sure. {"probability": 0.8, "explanation": "has {braces}"} Hope that helps', 0.8),
        ('{"probability": "0.75"}', 0.75),
        ('{"probability": 3}', 1.0),
        ('{"probability": -1, "explanation": "x"}', 0.0),
        ('not this {one} but {"probability": 0.65}', 0.65),
    ],
)
async def test_answers_are_read_tolerantly_and_clamped(answer: str, probability: float) -> None:
    sink = InMemoryEventSink()
    await served(judge_policy(), ScriptedJudge(lambda prompt: answer), [*CALLS[:2], CALLS[2], CALLS[4]], sink)
    [verdict] = verdicts(sink)
    assert verdict["probability"] == probability and verdict["error"] is None


@pytest.mark.parametrize(
    "answer",
    [
        "I think it is fine.",
        '{"explanation": "no number"}',
        '{"probability": "high"}',
        '{"probability": NaN}',
        '{"probability": true}',
        "   ",
    ],
)
async def test_an_unusable_answer_blocks_the_call(answer: str) -> None:
    sink = InMemoryEventSink()
    items = await served(judge_policy(), ScriptedJudge(lambda prompt: answer), [*CALLS[:3], CALLS[4]], sink)
    assert served_tool_calls(items) == []
    [verdict] = verdicts(sink)
    assert verdict["blocked"] is True and str(verdict["error"]).startswith("unusable judge answer")
    assert "(probability n/a): unusable judge answer" in served_text(items)


async def test_a_judge_that_does_not_answer_in_time_blocks_the_call() -> None:
    sink = InMemoryEventSink()
    items = await served(
        judge_policy(timeout_seconds=0.05), ScriptedJudge(gate=asyncio.Event()), [*CALLS[:3], CALLS[4]], sink
    )
    assert served_tool_calls(items) == []
    [verdict] = verdicts(sink)
    assert verdict["error"] == "the judge did not answer within 0.05s"
    assert verdict["reason"] == "the judge did not answer within 0.05s; blocked (on_error: block)"


def _fail(prompt: str) -> str:
    raise ConnectionError("judge unreachable")


async def test_on_error_allow_lets_the_call_through_and_says_so() -> None:
    sink = InMemoryEventSink()
    items = await served(judge_policy(on_error="allow"), ScriptedJudge(_fail), [*CALLS[:3], CALLS[4]], sink)
    assert [call["name"] for call in served_tool_calls(items)] == ["get_weather"]
    [verdict] = verdicts(sink)
    assert verdict["blocked"] is False
    assert verdict["reason"] == "the judge call failed: ConnectionError: judge unreachable; allowed (on_error: allow)"


async def test_without_an_llm_client_the_judge_fails_closed() -> None:
    sink = InMemoryEventSink()
    policy = judge_policy()
    orchestrator = create_default_orchestrator(policy, None, db_pool=sink)
    final = await orchestrator.process_request(request(), "txn", SPAN)
    items = [item async for item in orchestrator.stream_response(iterate(CALLS), "txn", SPAN, final)]
    assert served_tool_calls(items) == []
    assert all("no LLM client" in str(verdict["error"]) for verdict in verdicts(sink))


async def test_the_threshold_is_inclusive_and_only_listed_tools_are_judged() -> None:
    judge = ScriptedJudge(lambda prompt: '{"probability": 0.5}')
    items = await served(judge_policy(threshold=0.5, tools=["get_weather"]), judge)
    assert [call["name"] for call in served_tool_calls(items)] == ["bash"]  # not judged
    assert len(judge.asked) == 1 and "get_weather" in judge.asked[0]


async def test_identical_calls_are_judged_once() -> None:
    sink, judge, policy = InMemoryEventSink(), ScriptedJudge(), judge_policy(cache_ttl_seconds=60)
    await served(policy, judge, sink=sink, transaction_id="first")
    await served(policy, judge, sink=sink, transaction_id="second")
    assert len(judge.asked) == 2  # two distinct calls, each asked once
    assert [v["cached"] for v in verdicts(sink)] == [False, False, True, True]
    first, second = verdicts(sink)[:2], verdicts(sink)[2:]
    assert sorted((v["tool_name"], v["blocked"]) for v in first) == sorted(
        (v["tool_name"], v["blocked"]) for v in second
    )


async def test_without_a_cache_every_call_is_judged() -> None:
    judge, policy = ScriptedJudge(), judge_policy(cache_ttl_seconds=0)
    await served(policy, judge, transaction_id="first")
    await served(policy, judge, transaction_id="second")
    assert len(judge.asked) == 4


async def test_block_response_refuses_the_whole_response() -> None:
    with pytest.raises(PolicyBlockedError, match="Blocked by policy 'judged': blocked a call to 'bash': probability"):
        await served(judge_policy(block_response=True), ScriptedJudge())
    with pytest.raises(PolicyBlockedError):
        await complete(judge_policy(block_response=True), ScriptedJudge())


# ----- complete responses -----


def full_response() -> ModelResponse:
    calls = [
        {"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": WEATHER_ARGS}},
        {"id": "call_b", "type": "function", "function": {"name": "bash", "arguments": BASH_ARGS}},
    ]
    message = {"role": "assistant", "content": "Let me check.", "tool_calls": calls}
    return ModelResponse(choices=[{"index": 0, "message": message, "finish_reason": "tool_calls"}])


async def complete(
    policy: ToolCallJudgePolicy, judge: LLMClient, sink: InMemoryEventSink | None = None
) -> ModelResponse:
    orchestrator = create_default_orchestrator(policy, judge, db_pool=sink)
    final = await orchestrator.process_request(request(stream=False), "txn", SPAN)
    return await orchestrator.apply_full_response(full_response(), "txn", SPAN, final)


async def test_complete_responses_get_the_same_verdicts_judged_concurrently() -> None:
    gate = asyncio.Event()
    judge = ScriptedJudge(gate=gate)
    sink = InMemoryEventSink()
    result = asyncio.ensure_future(complete(judge_policy(), judge, sink))
    while judge.waiting < 2:
        await judge.arrived.wait()
        judge.arrived.clear()
    gate.set()
    message = (await result).choices[0].message  # type: ignore[union-attr]
    assert message.content == "Let me check." + NOTICE
    assert [call.function.name for call in message.tool_calls] == ["get_weather"]
    assert sorted(v["tool_name"] for v in verdicts(sink)) == ["bash", "get_weather"]


async def test_a_complete_response_whose_calls_are_all_blocked_finishes_with_stop() -> None:
    judge = ScriptedJudge(lambda prompt: '{"probability": 1}')
    response = await complete(judge_policy(), judge)
    assert response.choices[0].finish_reason == "stop"  # type: ignore[union-attr]
    assert response.choices[0].message.tool_calls is None  # type: ignore[union-attr]


async def test_library_mode_judges_through_litellm() -> None:
    """`LiteLLMClient` is the library's judge client: a real `litellm.acompletion` (here answered by
    LiteLLM's own `mock_response`, so no provider is called)."""
    verdict = json.dumps({"probability": 0.95, "explanation": "mocked judge"})
    judge = LiteLLMClient(mock_response=verdict)
    sink = InMemoryEventSink()
    items = await served(judge_policy(judge_model="openai/gpt-4o-mini"), judge, sink=sink)
    assert served_tool_calls(items) == []
    assert {v["explanation"] for v in verdicts(sink)} == {"mocked judge"}
