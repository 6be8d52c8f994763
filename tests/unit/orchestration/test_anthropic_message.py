"""Complete `/v1/messages` responses: the policy's changes written back into the Anthropic message."""

from __future__ import annotations

from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies.block_tools import BlockToolsOptions, BlockToolsPolicy
from luthien_litellm_plugin.policies.passthrough import PassthroughPolicy
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.types import JSONObject, RequestMessage, ToolCall
from tests.anthropic_streams import messages_request
from tests.fakes.anthropic_upstream import anthropic_message
from tests.fakes.common import Ids
from tests.fakes.scenarios import LEAD_IN, build_scenario, parse_options
from tests.streams import SPAN


def message(scenario: str) -> JSONObject:
    body = {"messages": [{"role": "user", "content": f"scenario:{scenario}"}]}
    return anthropic_message(build_scenario(parse_options(body), "anthropic"), Ids("m"), "claude-test")


async def apply(policy: Policy, received: JSONObject) -> JSONObject:
    orchestrator = create_default_orchestrator(policy, ReplayLLMClient())
    final = await orchestrator.process_request(messages_request(), "t", SPAN)
    return await orchestrator.apply_anthropic_message(received, "t", SPAN, final)


def kinds(result: JSONObject) -> list[object]:
    return [block["type"] for block in result["content"]]  # type: ignore[index,union-attr]


async def test_an_unchanged_message_is_returned_as_received() -> None:
    received = message("parallel_tool_calls")
    assert await apply(PassthroughPolicy(), received) is received
    assert await apply(BlockToolsPolicy(BlockToolsOptions(tools=["nothing"])), received) is received


async def test_a_blocked_tool_use_is_replaced_by_text_and_the_others_are_kept_as_sent() -> None:
    received = message("parallel_tool_calls")
    result = await apply(BlockToolsPolicy(BlockToolsOptions(tools=["bash"])), received)
    assert kinds(result) == ["text", "tool_use", "tool_use"]
    content = result["content"]
    assert isinstance(content, list)
    assert content[1] == received["content"][1] and content[2] == received["content"][3]  # type: ignore[index]
    text = content[0]["text"]  # type: ignore[index,call-overload]
    assert text.startswith(LEAD_IN) and "bash" in text
    assert result["stop_reason"] == "tool_use"
    assert result["usage"] == received["usage"] and result["id"] == received["id"]


async def test_removing_every_tool_use_ends_the_turn() -> None:
    result = await apply(BlockToolsPolicy(BlockToolsOptions(tools=["get_weather", "bash"])), message("tool_only"))
    assert kinds(result) == ["text"]
    assert result["stop_reason"] == "end_turn"


class Rename(SimplePolicy):
    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall | str | None:
        return tool_call.model_copy(update={"name": "safe_" + tool_call.name, "arguments": '{"x": 1}'})


async def test_a_modified_tool_call_keeps_its_block_id() -> None:
    received = message("tool_only")
    result = await apply(Rename(), received)
    content = result["content"]
    assert isinstance(content, list)
    assert [(b["id"], b["name"], b["input"]) for b in content] == [  # type: ignore[index,call-overload]
        (b["id"], "safe_" + b["name"], {"x": 1})  # type: ignore[index,call-overload,operator]
        for b in received["content"]  # type: ignore[union-attr]
    ]
