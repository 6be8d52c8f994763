"""The workload catalogue: the issue's workloads and the agent turns (a long conversation sent)."""

from __future__ import annotations

import json

from bench.overhead import workloads
from bench.overhead.requests import CHAT_CONVERSATION, MESSAGES_CONVERSATION


def test_the_agent_workloads_are_their_own_group_outside_the_issues() -> None:
    assert workloads.GROUPS["agents"] == ["chat agent5", "messages agent5"]
    for group in ("issue13", "chat", "messages", "responses"):
        assert not any(workloads.CATALOGUE[name].conversation for name in workloads.GROUPS[group])
    assert set(workloads.GROUPS["agents"]) <= set(workloads.GROUPS["all"])
    agent = workloads.select("messages:agent5")[0]
    assert (agent.conversation, agent.sequential, agent.chunks) == (True, True, 5)


def test_an_agent_conversation_is_long_and_each_tool_call_has_its_result() -> None:
    for conversation in (MESSAGES_CONVERSATION, CHAT_CONVERSATION):
        assert 60_000 < len(json.dumps(conversation)) < 120_000
        assert len(conversation["tools"]) == 15  # type: ignore[arg-type]
    messages = MESSAGES_CONVERSATION["messages"]
    assert isinstance(messages, list)
    used = [b["id"] for m in messages for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_use"]
    answered = [
        b["tool_use_id"]
        for m in messages
        for b in m["content"]
        if isinstance(b, dict) and b.get("type") == "tool_result"
    ]
    assert used == answered and len(used) == 20
    chat = CHAT_CONVERSATION["messages"]
    assert isinstance(chat, list)
    calls = [c["id"] for m in chat for c in m.get("tool_calls", [])]
    assert calls == [m["tool_call_id"] for m in chat if m["role"] == "tool"] and len(calls) == 20
    assert chat[-1] == {"role": "user", "content": "go"} and messages[-1] == {"role": "user", "content": "hi"}
