"""The openai-agents SDK, with its default model (`OpenAIResponsesModel`, the Responses API), running a tool
loop through the real proxy: block_tools stops the blocked tool from ever running (and lets the other calls
of the same turn run); passthrough does not."""

from __future__ import annotations

import json

import pytest
from agents import Agent, RunConfig, Runner, RunResult, RunResultStreaming, function_tool
from agents.models.openai_provider import OpenAIProvider
from agents.models.openai_responses import OpenAIResponsesModel
from openai import AsyncOpenAI

from luthien_litellm_plugin.storage.jsonl import read_events
from tests.e2e.messages_proxy import MessagesProxy, messages_fake, messages_proxy, new_marker, recorded_status
from tests.fakes.responses_upstream import TOOL_RESULT_ANSWER
from tests.fakes.scenarios import tool_loop_answer

pytestmark = pytest.mark.e2e
__all__ = ["messages_fake", "messages_proxy"]  # the session fixtures this module uses


async def run_agent(proxy: MessagesProxy, model: str, prompt: str, stream: bool) -> tuple[str, list[str]]:
    """Run an agent with a weather tool and a bash tool; (its final output, the tools that actually ran)."""
    ran: list[str] = []

    @function_tool
    def get_weather(location: str, unit: str) -> str:
        """The weather at a location."""
        ran.append("get_weather")
        return json.dumps({"location": location, "temperature": 21, "unit": unit})

    @function_tool
    def bash(command: str) -> str:
        """Run a shell command."""
        ran.append("bash")
        return "done"

    client = AsyncOpenAI(base_url=f"{proxy.base_url}/v1", api_key=proxy.master_key, max_retries=0)
    provider = OpenAIProvider(openai_client=client)
    assert isinstance(provider.get_model(model), OpenAIResponsesModel)  # the SDK's default model: Responses API
    agent = Agent(name="assistant", instructions="Use the tools you are given.", tools=[get_weather, bash])
    config = RunConfig(model=model, model_provider=provider, tracing_disabled=True)
    result: RunResult | RunResultStreaming
    try:
        if stream:
            result = Runner.run_streamed(agent, input=prompt, run_config=config)
            async for _ in result.stream_events():
                pass
        else:
            result = await Runner.run(agent, input=prompt, run_config=config)
    finally:
        await client.close()
    return str(result.final_output), ran


def transactions(proxy: MessagesProxy, marker: str) -> list[str]:
    """The transactions whose recorded request carries `marker`, in the order they were recorded."""
    found: list[str] = []
    for event in read_events(proxy.events_file):
        if event["event_type"] == "transaction.request_recorded" and marker in json.dumps(event["payload"]):
            found.append(str(event["transaction_id"]))
    return found


def recorded_calls(proxy: MessagesProxy, transaction_id: str) -> tuple[list[str], list[str]]:
    """The tool calls of a recorded response: (what the upstream asked for, what the client got)."""
    [recorded] = [
        e["payload"]
        for e in read_events(proxy.events_file)
        if e["transaction_id"] == transaction_id and str(e["event_type"]).endswith("response_recorded")
    ]
    assert isinstance(recorded, dict)
    return tuple(  # type: ignore[return-value]
        [c["function"]["name"] for c in recorded[key]["choices"][0]["message"].get("tool_calls") or []]
        for key in ("original_response", "final_response")
    )


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("backend", ["openai", "anthropic"])
async def test_block_tools_stops_the_blocked_tool_from_running(
    messages_proxy: MessagesProxy, backend: str, stream: bool
) -> None:
    marker = new_marker()
    prompt = f"scenario:tool_loop tool:bash token:t{marker[4:12]} {marker}"
    output, ran = await run_agent(messages_proxy, f"{backend}-block_tools", prompt, stream)
    assert ran == []  # bash was asked for, and never ran
    assert "blocked a call to 'bash'" in output  # the agent's answer is the policy's notice
    [turn] = transactions(messages_proxy, marker)
    assert recorded_status(messages_proxy, turn) == ("success", None)
    assert recorded_calls(messages_proxy, turn) == (["bash"], [])


@pytest.mark.parametrize("stream", [False, True])
async def test_block_tools_lets_the_other_calls_of_a_turn_run(messages_proxy: MessagesProxy, stream: bool) -> None:
    marker = new_marker()
    output, ran = await run_agent(messages_proxy, "openai-block_tools", f"scenario:tool_only {marker}", stream)
    assert ran == ["get_weather"]  # bash, asked for in the same turn, never ran
    assert output == TOOL_RESULT_ANSWER
    first, second = transactions(messages_proxy, marker)  # the calls, then the answer once the weather came back
    assert recorded_calls(messages_proxy, first) == (["get_weather", "bash"], ["get_weather"])
    assert recorded_status(messages_proxy, second) == ("success", None)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("backend", ["openai", "anthropic"])
async def test_passthrough_lets_the_tool_run(messages_proxy: MessagesProxy, backend: str, stream: bool) -> None:
    marker = new_marker()
    prompt = f"scenario:tool_loop tool:bash token:t{marker[4:12]} {marker}"
    output, ran = await run_agent(messages_proxy, f"{backend}-passthrough", prompt, stream)
    assert ran == ["bash"]
    assert output == tool_loop_answer("done")
    assert len(transactions(messages_proxy, marker)) == 2
