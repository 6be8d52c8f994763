"""Complete `/v1/responses` objects: the policy's changes written back into the `Response`."""

from __future__ import annotations

from typing import Any

from litellm.types.llms.openai import ResponsesAPIResponse

from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.orchestration.responses_object import to_model_response
from luthien_litellm_plugin.policies.all_caps import AllCapsPolicy
from luthien_litellm_plugin.policies.block_tools import BlockToolsOptions, BlockToolsPolicy
from luthien_litellm_plugin.policies.passthrough import PassthroughPolicy
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.streaming.responses_events import plain
from luthien_litellm_plugin.types import RequestMessage, ToolCall
from tests.fakes.common import Ids
from tests.fakes.responses_upstream import responses_object
from tests.fakes.scenarios import BASH, LEAD_IN, TEXT, THINKING, TIME, WEATHER, build_scenario, parse_options
from tests.streams import SPAN, request


def response(scenario: str) -> ResponsesAPIResponse:
    body = {"model": "gpt-test", "input": f"scenario:{scenario}", "include": ["reasoning.encrypted_content"]}
    data = responses_object(build_scenario(parse_options(body), "responses"), Ids("r"), "gpt-test", body)
    return ResponsesAPIResponse.model_validate(data)


async def apply(policy: Policy, received: ResponsesAPIResponse) -> ResponsesAPIResponse:
    orchestrator = create_default_orchestrator(policy, ReplayLLMClient())
    final = await orchestrator.process_request(request(stream=False), "t", SPAN)
    return await orchestrator.apply_responses_response(received, "t", SPAN, final)


def output(result: ResponsesAPIResponse) -> list[dict[str, Any]]:
    items = plain(result.output)
    assert isinstance(items, list)
    return [item for item in items if isinstance(item, dict)]


def texts(result: ResponsesAPIResponse) -> list[str]:
    return [part["text"] for item in output(result) if item["type"] == "message" for part in item["content"]]


def test_policies_see_text_tool_calls_finish_and_usage() -> None:
    chat = to_model_response(response("parallel_tool_calls"))
    message = chat.choices[0].message  # type: ignore[union-attr]
    assert message.content == LEAD_IN
    assert [(c.function.name, c.function.arguments) for c in message.tool_calls] == [  # type: ignore[union-attr]
        (call.name, call.arguments) for call in (WEATHER, BASH, TIME)
    ]
    assert chat.choices[0].finish_reason == "tool_calls"
    assert chat.usage.prompt_tokens == 42  # type: ignore[attr-defined]
    assert to_model_response(response("max_tokens")).choices[0].finish_reason == "length"


async def test_an_unchanged_response_is_returned_as_received() -> None:
    received = response("parallel_tool_calls")
    assert await apply(PassthroughPolicy(), received) is received
    assert await apply(BlockToolsPolicy(BlockToolsOptions(tools=["nothing"])), received) is received


async def test_a_blocked_call_is_replaced_by_text_and_the_other_items_are_kept_as_sent() -> None:
    received = response("parallel_tool_calls")
    result = await apply(BlockToolsPolicy(BlockToolsOptions(tools=["bash"])), received)
    kept = output(result)
    assert [item.get("name") for item in kept] == [None, WEATHER.name, TIME.name]
    assert kept[1:] == [item for item in output(received) if item.get("name") in (WEATHER.name, TIME.name)]
    [text] = texts(result)
    assert text.startswith(LEAD_IN) and "bash" in text[len(LEAD_IN) :]
    assert (result.id, result.usage, result.status) == (received.id, received.usage, received.status)
    assert output(received)[2]["name"] == BASH.name, "the received response is not modified"


async def test_all_caps_changes_the_text_and_leaves_reasoning_untouched() -> None:
    received = response("thinking")
    result = await apply(AllCapsPolicy(), received)
    assert texts(result) == [TEXT.upper()]
    reasoning = output(result)[0]
    assert reasoning == output(received)[0] and reasoning["summary"][0]["text"] == THINKING


async def test_text_for_a_response_without_any_goes_before_the_first_function_call() -> None:
    class Explain(SimplePolicy):
        async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall | str | None:
            return tool_call if tool_call.name == WEATHER.name else "no shell today"

    result = await apply(Explain(), response("tool_only"))
    assert [item["type"] for item in output(result)] == ["message", "function_call"]
    assert texts(result) == ["no shell today"]


async def test_a_modified_call_keeps_its_item_with_the_new_name_and_arguments() -> None:
    class Rename(SimplePolicy):
        async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCall | str | None:
            return tool_call.model_copy(update={"name": "safe_" + tool_call.name, "arguments": "{}"})

    received = response("tool_only")
    result = await apply(Rename(), received)
    assert [(item["id"], item["name"], item["arguments"]) for item in output(result)] == [
        (item["id"], "safe_" + item["name"], "{}") for item in output(received)
    ]
