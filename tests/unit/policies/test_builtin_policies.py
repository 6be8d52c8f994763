"""Built-in policies, streaming and not, on chunks LiteLLM produced from wire traffic."""

from __future__ import annotations

import json

import pytest

from luthien_litellm_plugin.errors import PolicyBlockedError
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies.block_tools import BlockToolsOptions, BlockToolsPolicy
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.policies.string_replacement import (
    Replacer,
    StringReplacementOptions,
    StringReplacementPolicy,
)
from tests.streams import SPAN, chunk, finish_reasons, request, serve, served_text, served_tool_calls
from tests.wire import WIRE, assembled_by_litellm, litellm_stream


def replacement(pairs: dict[str, str], case_sensitive: bool = True) -> StringReplacementOptions:
    return StringReplacementOptions.model_validate(
        {"replacements": [{"from": a, "to": b} for a, b in pairs.items()], "case_sensitive": case_sensitive}
    )


@pytest.mark.parametrize("split", [1, 2, 3, 5, 100])
def test_replacer_gives_the_same_result_however_the_text_is_split(split: int) -> None:
    replacer = Replacer(replacement({"cat": "dog", "category": "group", "a": "A"}))
    text = "a category of cats; concatenate a cat"
    released, pending = [], ""
    for start in range(0, len(text), split):
        ready, pending = replacer.feed(pending + text[start : start + split], final=False)
        released.append(ready)
    released.append(replacer.feed(pending, final=True)[0])
    assert "".join(released) == replacer.replace_all(text) == "A group of dogs; condogenAte A dog"


def test_case_insensitive_matching() -> None:
    replacer = Replacer(replacement({"secret": "[x]"}, case_sensitive=False))
    assert replacer.replace_all("Secret SECRET secret") == "[x] [x] [x]"


async def both_ways(
    policy: Policy, name: str
) -> tuple[tuple[str, list[dict[str, object]], list[str]], tuple[str, list[dict[str, object]], str]]:
    provider, body = WIRE[name]
    chunks = await litellm_stream(provider, body)
    served = await serve(create_default_orchestrator(policy, ReplayLLMClient()), chunks)
    streamed = (served_text(served), served_tool_calls(served), finish_reasons(served))
    orchestrator = create_default_orchestrator(policy, ReplayLLMClient(response=assembled_by_litellm(chunks)))
    final = await orchestrator.process_request(request(stream=False), "n", SPAN)
    response = await orchestrator.process_full_response(final, "n", SPAN)
    message = response.choices[0].message  # type: ignore[union-attr]
    calls = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for c in message.tool_calls or []]
    return streamed, (message.content or "", calls, str(response.choices[0].finish_reason))


@pytest.mark.parametrize("name", ["openai_text", "anthropic_text", "openai_parallel_tool_calls"])
async def test_string_replacement_streaming_equals_non_streaming(name: str) -> None:
    policy = StringReplacementPolicy(replacement({" from": " FROM", "wire.": "wire!", "check": "verify"}))
    (text, calls, finishes), (full_text, full_calls, full_finish) = await both_ways(policy, name)
    assert (text, calls, finishes) == (full_text, full_calls, [full_finish])
    assert "from" not in text


async def test_string_replacement_releases_text_before_the_block_ends() -> None:
    policy = StringReplacementPolicy(replacement({"xyz": "!"}))
    chunks = [
        chunk("Hello ", role="assistant"),
        chunk("wor"),
        chunk("ld xy"),
        chunk("z end"),
        chunk(finish_reason="stop"),
    ]
    served = await serve(create_default_orchestrator(policy, ReplayLLMClient()), chunks)
    texts = [c.choices[0].delta.content for c in served if c.choices and c.choices[0].delta.content]
    assert "".join(texts) == "Hello world ! end"
    assert len(texts) >= 3  # released progressively, not in one block at the end


@pytest.mark.parametrize("name", ["openai_parallel_tool_calls", "anthropic_tool_calls"])
async def test_block_tools_replaces_the_blocked_call_with_an_explanation(name: str) -> None:
    policy = BlockToolsPolicy(BlockToolsOptions(tools=["bash"])).named("no_shell")
    (text, calls, finishes), (full_text, full_calls, full_finish) = await both_ways(policy, name)
    assert [c["name"] for c in calls] == ["get_weather"]
    assert "[no_shell: blocked a call to 'bash': tool 'bash' is not allowed]" in text
    assert (text, calls, finishes) == (full_text, full_calls, [full_finish])
    assert finishes == ["tool_calls"]


@pytest.mark.parametrize("blocked", ["bash", "get_weather"])
async def test_block_tools_on_interleaved_parallel_calls_serves_the_other_call_whole(blocked: str) -> None:
    """The upstream interleaves the deltas of calls 0 and 1 (LiteLLM's own parsing of the wire)."""
    policy = BlockToolsPolicy(BlockToolsOptions(tools=[blocked])).named("no_shell")
    orchestrator = create_default_orchestrator(policy, ReplayLLMClient())
    served = await serve(orchestrator, await litellm_stream(*WIRE["openai_interleaved_tool_calls"]))  # checks egress
    kept = {
        "bash": ("call_w", "get_weather", '{"location": "Paris"}'),
        "get_weather": ("call_b", "bash", '{"command": "rm -rf /"}'),
    }
    call_id, name, arguments = kept[blocked]
    assert served_tool_calls(served) == [{"id": call_id, "name": name, "arguments": arguments}]
    assert f"blocked a call to '{blocked}'" in served_text(served)


async def test_block_tools_by_argument_pattern_and_finish_fixed_when_none_remain() -> None:
    policy = BlockToolsPolicy(BlockToolsOptions(arguments_pattern=r"rm -rf|Paris"))
    (text, calls, finishes), _ = await both_ways(policy, "anthropic_tool_calls")
    assert calls == [] and finishes == ["stop"]
    assert json.dumps(text).count("blocked a call") == 2


async def test_block_tools_can_refuse_the_whole_response() -> None:
    policy = BlockToolsPolicy(BlockToolsOptions(tools=["bash"], block_response=True)).named("strict")
    with pytest.raises(PolicyBlockedError, match="strict"):
        await both_ways(policy, "openai_parallel_tool_calls")
