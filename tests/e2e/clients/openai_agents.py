"""Running an openai-agents SDK agent, with a shell function tool, against a proxy.

The SDK is imported lazily: without it these tests skip locally and fail under CI=true
(`require_openai_agents`), instead of failing collection.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import openai

from tests.e2e.messages_proxy import MessagesProxy

if TYPE_CHECKING:
    from agents import Agent


def agent_for(proxy: MessagesProxy, model: str, workdir: Path) -> Agent[None]:
    """An agent on `model` (chat-completions model) through the proxy, whose `run_shell` tool runs
    commands in `workdir`."""
    from agents import Agent, OpenAIChatCompletionsModel, function_tool, set_tracing_disabled

    set_tracing_disabled(True)  # the SDK would otherwise try to upload traces

    @function_tool
    def run_shell(command: str) -> str:
        """Run a shell command and return what it printed."""
        done = subprocess.run(command, shell=True, cwd=workdir, capture_output=True, text=True, timeout=30)
        return done.stdout

    client = openai.AsyncOpenAI(base_url=f"{proxy.base_url}/v1", api_key=proxy.master_key, max_retries=0)
    return Agent(
        name="shell-user",
        instructions="Use the run_shell tool when asked to run a command.",
        tools=[run_shell],
        model=OpenAIChatCompletionsModel(model=model, openai_client=client),
    )


def run_agent(agent: Agent[None], prompt: str, streamed: bool) -> str:
    """Run the agent to its final output (through the streaming API or not)."""
    from agents import Runner

    async def go() -> str:
        if not streamed:
            return str((await Runner.run(agent, prompt)).final_output)
        result = Runner.run_streamed(agent, prompt)
        async for _ in result.stream_events():
            pass
        return str(result.final_output)

    return asyncio.run(go())


def cancel_at_first_text(agent: Agent[None], prompt: str) -> int:
    """Run the agent streamed and cancel the run at its first text delta; the events seen by then."""
    from agents import Runner

    async def go() -> int:
        result = Runner.run_streamed(agent, prompt)
        seen = 0
        async for event in result.stream_events():
            seen += 1
            if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
                result.cancel()
        return seen

    return asyncio.run(go())
