"""Built-in policies, streaming and not, on chunks LiteLLM produced from wire traffic."""

from __future__ import annotations

import json

import pytest
from litellm.types.utils import ChatCompletionMessageCustomToolCall

from luthien_litellm_plugin.errors import PolicyBlockedError
from luthien_litellm_plugin.events import TRANSACTION_STREAMING_RESPONSE_RECORDED, InMemoryEventSink
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies.block_tools import BlockToolsOptions, BlockToolsPolicy
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.policies.string_replacement import (
    Replacer,
    StringReplacementOptions,
    StringReplacementPolicy,
)
from luthien_litellm_plugin.types import RequestMessage, ToolCall
from tests.streams import (
    SPAN,
    chunk,
    finish_reasons,
    request,
    serve,
    served_calls,
    served_text,
    served_tool_calls,
)
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


@pytest.mark.parametrize("name", ["openai_text", "anthropic_text", "openai_parallel_tool_calls"])
async def test_string_replacement_streaming_equals_non_streaming(name: str) -> None:
    policy = StringReplacementPolicy(replacement({" from": " FROM", "wire.": "wire!", "check": "verify"}))
    text, _, _ = await every_way(policy, name)
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
    text, calls, finishes = await every_way(policy, name)
    assert [name for _, name, _ in calls] == ["get_weather"]
    assert "[no_shell: blocked a call to 'bash': tool 'bash' is not allowed]" in text
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
    text, calls, finishes = await every_way(policy, "anthropic_tool_calls")
    assert calls == [] and finishes == ["stop"]
    assert json.dumps(text).count("blocked a call") == 2


async def test_block_tools_can_refuse_the_whole_response() -> None:
    policy = BlockToolsPolicy(BlockToolsOptions(tools=["bash"], block_response=True)).named("strict")
    with pytest.raises(PolicyBlockedError, match="strict"):
        await every_way(policy, "openai_parallel_tool_calls")


def message_calls(message: object) -> list[tuple[str, str, str]]:
    """A complete message's tool calls in `served_calls` form (function, custom, legacy function_call)."""
    calls: list[tuple[str, str, str]] = []
    for call in getattr(message, "tool_calls", None) or []:
        if isinstance(call, ChatCompletionMessageCustomToolCall):
            calls.append(("custom", call.custom.name, call.custom.input))
        else:
            calls.append(("function", call.function.name or "", call.function.arguments or ""))
    legacy = getattr(message, "function_call", None)
    if legacy is not None:
        calls.append(("function_call", legacy.name or "", legacy.arguments or ""))
    return calls


async def every_way(policy: Policy, name: str) -> tuple[str, list[tuple[str, str, str]], list[str]]:
    """What the client gets streamed, after checking that the non-streamed response says the same."""
    provider, body = WIRE[name]
    chunks = await litellm_stream(provider, body)
    served = await serve(create_default_orchestrator(policy, ReplayLLMClient()), chunks)
    streamed = (served_text(served), served_calls(served), finish_reasons(served))
    orchestrator = create_default_orchestrator(policy, ReplayLLMClient(response=assembled_by_litellm(chunks)))
    final = await orchestrator.process_request(request(stream=False), "n", SPAN)
    response = await orchestrator.process_full_response(final, "n", SPAN)
    choice = response.choices[0]
    full = (choice.message.content or "", message_calls(choice.message), [str(choice.finish_reason)])  # type: ignore[union-attr]
    assert streamed == full
    return streamed


async def test_block_tools_blocks_a_custom_tool_call_by_name() -> None:
    policy = BlockToolsPolicy(BlockToolsOptions(tools=["bash"])).named("no_shell")
    text, calls, finishes = await every_way(policy, "openai_custom_tool_call")
    assert calls == [("custom", "get_weather", "Paris")]  # the other custom call, untouched
    assert "[no_shell: blocked a call to 'bash': tool 'bash' is not allowed]" in text
    assert finishes == ["tool_calls"]


async def test_block_tools_blocks_a_legacy_function_call() -> None:
    policy = BlockToolsPolicy(BlockToolsOptions(tools=["bash"])).named("no_shell")
    text, calls, finishes = await every_way(policy, "openai_function_call")
    assert calls == [] and finishes == ["stop"]  # no function_call left: not 'function_call'
    assert "blocked a call to 'bash'" in text


async def test_unblocked_custom_and_legacy_calls_pass_unchanged() -> None:
    policy = BlockToolsPolicy(BlockToolsOptions(tools=["python"]))
    assert (await every_way(policy, "openai_custom_tool_call"))[1:] == (
        [("custom", "get_weather", "Paris"), ("custom", "bash", "rm -rf /tmp/x")],
        ["tool_calls"],
    )
    assert (await every_way(policy, "openai_function_call"))[1:] == (
        [("function_call", "bash", '{"command": "rm -rf /tmp/x"}')],
        ["function_call"],
    )


@pytest.mark.parametrize(("case_sensitive", "blocked"), [(False, True), (True, False)])
async def test_tool_names_match_case_insensitively_unless_asked(case_sensitive: bool, blocked: bool) -> None:
    policy = BlockToolsPolicy(BlockToolsOptions(tools=["bash"], case_sensitive_names=case_sensitive))
    text, calls, _ = await every_way(policy, "openai_capitalised_tool")  # Claude Code's tool is `Bash`
    assert (calls == [], "blocked a call to 'Bash'" in text) == (blocked, blocked)


async def test_arguments_pattern_sees_through_json_escapes() -> None:
    policy = BlockToolsPolicy(BlockToolsOptions(arguments_pattern=r"rm -rf"))
    text, calls, finishes = await every_way(policy, "openai_escaped_arguments")
    assert calls == [] and finishes == ["stop"]
    assert "arguments of 'run' match /rm -rf/" in text


@pytest.mark.parametrize(
    ("call", "blocked"),
    [
        (ToolCall(id="a", name="run", arguments='{"cmd": "rm -rf /"}'), True),  # as sent
        (ToolCall(id="a", name="run", arguments='{"cmd": "\\u0072m -rf /"}'), True),  # escaped value
        (ToolCall(id="a", name="run", arguments='{"rm -\\u0072f": 1}'), True),  # escaped key
        (ToolCall(id="a", name="run", arguments='{"a": [[{"b": ["x", "r\\u006d -rf"]}]]}'), True),  # nested
        (ToolCall(id="a", name="run", arguments='{"cmd": "rm -r -f /"}'), False),
        (ToolCall(id="a", name="run", arguments="rm -rf / (not JSON)"), True),  # matched as sent
        (ToolCall(id="a", name="run", arguments="\\u0072m -rf /", type="custom"), False),  # free text: as is
        (ToolCall(id="a", name="run", arguments="rm -rf /", type="custom"), True),
        (ToolCall(id="a", name="run", arguments='{"cmd": "rm -rf /"}', type="function_call"), True),
        (ToolCall(id="a", name="run", arguments="[" * 50_000 + "]" * 50_000), True),  # too deep to check: blocked
    ],
)
def test_what_arguments_pattern_is_matched_against(call: ToolCall, blocked: bool) -> None:
    policy = BlockToolsPolicy(BlockToolsOptions(arguments_pattern=r"rm -rf"))
    assert (policy.reason_to_block(call) is not None) == blocked


class RenameCalls(SimplePolicy):
    """Rewrites every tool call's name: the rewritten call must leave in its original wire shape."""

    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall:
        return tool_call.model_copy(update={"name": f"safe_{tool_call.name}"})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "openai_custom_tool_call",
            [("custom", "safe_get_weather", "Paris"), ("custom", "safe_bash", "rm -rf /tmp/x")],
        ),
        ("openai_function_call", [("function_call", "safe_bash", '{"command": "rm -rf /tmp/x"}')]),
    ],
)
async def test_a_modified_tool_call_keeps_its_wire_shape(name: str, expected: list[tuple[str, str, str]]) -> None:
    _, calls, finishes = await every_way(RenameCalls(), name)
    assert calls == expected
    assert finishes == [WIRE_FINISH[name]]


WIRE_FINISH = {"openai_custom_tool_call": "tool_calls", "openai_function_call": "function_call"}


@pytest.mark.parametrize("name", ["openai_custom_tool_call", "openai_function_call"])
async def test_custom_and_legacy_calls_are_recorded_as_served(name: str) -> None:
    provider, body = WIRE[name]
    sink = InMemoryEventSink()
    orchestrator = create_default_orchestrator(
        BlockToolsPolicy(BlockToolsOptions(tools=["bash"])), ReplayLLMClient(), sink
    )
    await serve(orchestrator, await litellm_stream(provider, body))
    [recorded] = sink.of_type(TRANSACTION_STREAMING_RESPONSE_RECORDED)
    original = recorded.payload["original_response"]["choices"][0]["message"]  # type: ignore[index,call-overload]
    final = recorded.payload["final_response"]["choices"][0]["message"]  # type: ignore[index,call-overload]
    if name == "openai_function_call":
        assert original["function_call"] == {"name": "bash", "arguments": '{"command": "rm -rf /tmp/x"}'}
        assert "function_call" not in final
    else:
        assert [c["custom"] for c in original["tool_calls"]] == [
            {"name": "get_weather", "input": "Paris"},
            {"name": "bash", "input": "rm -rf /tmp/x"},
        ]
        assert [c["custom"]["name"] for c in final["tool_calls"]] == ["get_weather"]
    assert "blocked a call to 'bash'" in final["content"]
