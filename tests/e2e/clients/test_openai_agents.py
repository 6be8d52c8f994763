"""The openai-agents SDK (pinned) through the real proxy: a real tool loop with its chat-completions model.

The agent has one function tool, `run_shell`, that runs the command it is given; the fake first
asks it to run `echo <token> | tee tool-ran-<token>.txt`, then answers quoting the tool result.
(The SDK's default Responses model: tests/e2e/test_responses_agents.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.clients.conftest import new_token, tool_loop_prompt, transactions, upstream_requests
from tests.e2e.clients.openai_agents import agent_for, cancel_at_first_text, run_agent
from tests.e2e.messages_proxy import MessagesProxy
from tests.fakes.scenarios import LEAD_IN, tool_loop_answer, tool_result_text

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("openai_agents")]

BACKENDS = ["openai", "anthropic"]
"""The model group's upstream: the fake's chat/completions, or its Messages API (LiteLLM translates)."""


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_passthrough_runs_the_tool_and_answers_with_its_output(
    clients_proxy: MessagesProxy, tmp_path: Path, backend: str, streamed: bool
) -> None:
    token = new_token()
    agent = agent_for(clients_proxy, f"{backend}-passthrough", tmp_path)
    output = run_agent(agent, tool_loop_prompt(token, "run_shell"), streamed)
    assert output == tool_loop_answer(token)
    assert (tmp_path / f"tool-ran-{token}.txt").read_text() == f"{token}\n"  # the tool really ran
    first, second = upstream_requests(clients_proxy, token)
    assert tool_result_text(first.body) is None
    assert str(tool_result_text(second.body)).strip() == token
    done = transactions(clients_proxy, token, 2)
    assert [(t["status"], t["is_streaming"]) for t in done] == [("success", streamed)] * 2


@pytest.mark.parametrize("streamed", [False, True])
def test_all_caps_upper_cases_the_answer_and_leaves_the_tool_call_alone(
    clients_proxy: MessagesProxy, tmp_path: Path, streamed: bool
) -> None:
    token = new_token()
    output = run_agent(
        agent_for(clients_proxy, "openai-all_caps", tmp_path), tool_loop_prompt(token, "run_shell"), streamed
    )
    assert output == tool_loop_answer(token).upper()
    assert (tmp_path / f"tool-ran-{token}.txt").read_text() == f"{token}\n"
    assert [t["policy"] for t in transactions(clients_proxy, token, 2)] == ["all_caps", "all_caps"]


@pytest.mark.parametrize("streamed", [False, True])
def test_block_tools_stops_the_tool_and_the_run_ends_cleanly(
    clients_proxy: MessagesProxy, tmp_path: Path, streamed: bool
) -> None:
    token = new_token()
    output = run_agent(
        agent_for(clients_proxy, "openai-no_shell", tmp_path), tool_loop_prompt(token, "run_shell"), streamed
    )
    assert output.startswith(LEAD_IN) and "run_shell" in output and "no_shell" in output, output
    assert list(tmp_path.iterdir()) == []  # the tool never ran
    assert len(upstream_requests(clients_proxy, token)) == 1
    [done] = transactions(clients_proxy, token, 1)
    assert done["policy"] == "no_shell"


def test_cancelling_a_streamed_run_records_the_transaction_cancelled(
    clients_proxy: MessagesProxy, tmp_path: Path
) -> None:
    token = new_token()
    agent = agent_for(clients_proxy, "openai-passthrough", tmp_path)
    cancel_at_first_text(agent, f"Say something long. scenario:text chunks:60 chunk_delay_ms:200 {token}")
    [done] = transactions(clients_proxy, token, 1)
    assert done["status"] == "cancelled"
    [upstream] = upstream_requests(clients_proxy, token)
    assert upstream.finished.wait(15) and upstream.outcome == "client_disconnected"
