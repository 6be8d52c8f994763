"""One proxy for every real-client scenario, in front of the scripted fake upstream."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from luthien_litellm_plugin.storage.jsonl import read_events
from tests.e2e.clients.claude_code import ClaudeCode
from tests.e2e.clients.installs import claude_code, require_openai_agents
from tests.e2e.conftest import POLICIES
from tests.e2e.judges_proxy import judge_models
from tests.e2e.messages_proxy import MessagesProxy, running_messages_proxy
from tests.fakes.common import RecordedRequest
from tests.fakes.scenarios import user_texts
from tests.fakes.server import FakeUpstream

SHELL_TOOLS = ["Bash", "run_shell"]
"""Claude Code's shell tool, and the one the openai-agents tests define."""
CLIENT_POLICIES: dict[str, dict[str, object]] = {
    **POLICIES,
    "no_shell": {"class": "block_tools", "options": {"tools": SHELL_TOOLS}},
    "judged": {"class": "tool_call_judge", "options": {"judge_model": "judge"}},
}
CLAUDE_MODEL = "claude-sonnet-4-5"
"""Claude Code shapes its requests by the model name: for one it knows, the prompt is the last
message; for another (e.g. `anthropic-passthrough`) a `system` message follows it. Groups named
`claude-sonnet-4-5-<policy>` get the first shape, `anthropic-<policy>` the second."""


@pytest.fixture(scope="package")
def clients_fake() -> Iterator[FakeUpstream]:
    with FakeUpstream.running() as fake:
        yield fake


@pytest.fixture(scope="package")
def clients_proxy(clients_fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MessagesProxy]:
    """The real proxy with `<backend>-<policy>` and `claude-sonnet-4-5-<policy>` groups for `CLIENT_POLICIES`."""
    extra = {f"{CLAUDE_MODEL}-{policy}": f"anthropic-{policy}" for policy in CLIENT_POLICIES}
    with running_messages_proxy(
        tmp_path_factory.mktemp("clients_proxy"),
        clients_fake,
        CLIENT_POLICIES,
        aliases=extra,
        extra_models=judge_models(clients_fake, ("judge",)),
    ) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def claude_binary() -> Path:
    """The pinned Claude Code, installed from npm on first use (fails under CI=true when it cannot be)."""
    return claude_code()


@pytest.fixture
def claude(claude_binary: Path, clients_proxy: MessagesProxy, tmp_path: Path) -> ClaudeCode:
    return ClaudeCode(claude_binary, clients_proxy, tmp_path)


@pytest.fixture(scope="session")
def openai_agents() -> None:
    require_openai_agents()


def new_token() -> str:
    """A token for one session's prompt and command: finds its requests and transactions again."""
    return f"t{uuid.uuid4().hex[:16]}"


def tool_loop_prompt(token: str, tool: str) -> str:
    return f"Run the echo command, then tell me what it printed. scenario:tool_loop tool:{tool} token:{token}"


def upstream_requests(proxy: MessagesProxy, token: str) -> list[RecordedRequest]:
    """The requests the fake received whose user messages carry `token`, in order."""
    return [r for r in proxy.fake.requests if any(token in text for text in user_texts(r.body))]


def transactions(proxy: MessagesProxy, token: str, count: int, timeout: float = 15.0) -> list[dict[str, object]]:
    """The `transaction.completed` payloads of the `count` transactions whose request carries `token`,
    in the order they were recorded; waits until all of them are complete."""
    deadline = time.monotonic() + timeout
    while True:
        events = read_events(proxy.events_file)
        ids = list(
            dict.fromkeys(
                str(e["transaction_id"])
                for e in events
                if e["event_type"] == "transaction.request_recorded" and token in json.dumps(e["payload"])
            )
        )
        done = {str(e["transaction_id"]): e["payload"] for e in events if e["event_type"] == "transaction.completed"}
        if len(ids) >= count and all(i in done for i in ids):
            assert len(ids) == count, f"expected {count} transactions carrying {token}, got {len(ids)}"
            return [payload for i in ids if isinstance(payload := done[i], dict)]
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(ids)} transactions carry {token} ({len(done)} completed), expected {count}")
        time.sleep(0.05)  # the proxy writes on its own schedule; bounded by the deadline
