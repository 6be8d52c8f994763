"""A request a policy blocks, as real clients show it: an error that reads as a refusal (default), or,
with `blocked_request_response: message`, an assistant message that lets the session go on.

What each client shows for each status tried is in the README (*What clients show for a blocked
request*); these tests pin the chosen behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from luthien_litellm_plugin.streaming.anthropic_validator import validate_anthropic_stream
from tests.anthropic_streams import parse
from tests.e2e.clients.claude_code import ClaudeCode
from tests.e2e.clients.conftest import CLAUDE_MODEL, new_token, transactions, upstream_requests
from tests.e2e.clients.openai_agents import agent_for, run_agent
from tests.e2e.messages_proxy import MessagesProxy, running_messages_proxy, sdk_client
from tests.fakes.scenarios import TEXT
from tests.fakes.server import FakeUpstream

pytestmark = pytest.mark.e2e

REFUSAL = "Blocked by policy 'block_request': the request mentions something forbidden"
BLOCKING = {"block_request": {"class": "tests.e2e.policies:BlockForbiddenRequests"}}


def forbidden(token: str) -> str:
    return f"Do something forbidden. {token}"


# ----- default: an error that reads as a refusal -----


@pytest.mark.parametrize("model", [f"{CLAUDE_MODEL}-block_request", "anthropic-block_request"])
def test_claude_code_shows_a_block_as_an_api_error_not_an_auth_failure(claude: ClaudeCode, model: str) -> None:
    token = new_token()
    run, _ = claude.run("session", model, forbidden(token))
    assert run.returncode == 1 and run.result["is_error"] is True, run.describe()
    assert run.result["api_error_status"] == 400
    assert run.result["result"] == f"API Error: 400 {REFUSAL}"  # a 403 read "Failed to authenticate. API Error: 403 …"
    # One request: Claude Code retries other 400s (and 422s) up to five times with fewer beta headers.
    [done] = transactions(claude.proxy, token, 1)
    assert (done["status"], done["error"]) == ("blocked", REFUSAL)
    assert upstream_requests(claude.proxy, token) == []


def test_claude_code_shows_a_block_after_text_went_out_as_an_api_error(claude: ClaudeCode) -> None:
    token = new_token()
    run, _ = claude.run("session", f"{CLAUDE_MODEL}-block_at_finish", f"hi {token}")
    assert run.returncode == 1 and run.result["is_error"] is True, run.describe()
    texts = [block["text"] for block in run.assistant_blocks if block["type"] == "text"]
    assert texts == [TEXT, "API Error: Blocked by policy 'block_at_finish': refused after the text was sent"]
    [done] = transactions(claude.proxy, token, 1)
    assert done["status"] == "blocked"


@pytest.mark.usefixtures("openai_agents")
@pytest.mark.parametrize("streamed", [False, True])
def test_openai_agents_raise_bad_request_naming_the_policy(
    clients_proxy: MessagesProxy, tmp_path: Path, streamed: bool
) -> None:
    token = new_token()
    with pytest.raises(openai.BadRequestError) as raised:
        run_agent(agent_for(clients_proxy, "openai-block_request", tmp_path), forbidden(token), streamed)
    assert raised.value.status_code == 400 and raised.value.type == "policy_blocked"
    assert REFUSAL in str(raised.value)
    [done] = transactions(clients_proxy, token, 1)
    assert done["status"] == "blocked"


# ----- blocked_request_response: message -----


@pytest.fixture(scope="module")
def message_proxy(clients_fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MessagesProxy]:
    """A proxy answering blocked requests with an assistant message."""
    with running_messages_proxy(
        tmp_path_factory.mktemp("message_proxy"),
        clients_fake,
        BLOCKING,
        settings={"blocked_request_response": "message"},
        aliases={f"{CLAUDE_MODEL}-block_request": "anthropic-block_request"},
    ) as proxy:
        yield proxy


def test_claude_code_session_goes_on_with_the_explanation(
    claude_binary: Path, message_proxy: MessagesProxy, tmp_path: Path
) -> None:
    token = new_token()
    claude = ClaudeCode(claude_binary, message_proxy, tmp_path)
    run, _ = claude.run("session", f"{CLAUDE_MODEL}-block_request", forbidden(token))
    assert run.returncode == 0, run.describe()
    assert (run.result["subtype"], run.result["is_error"], run.result["result"]) == ("success", False, REFUSAL)
    [done] = transactions(message_proxy, token, 1)
    assert (done["status"], done["error"]) == ("blocked", REFUSAL)
    assert upstream_requests(message_proxy, token) == []


@pytest.mark.usefixtures("openai_agents")
@pytest.mark.parametrize("streamed", [False, True])
def test_openai_agents_run_ends_with_the_explanation(
    message_proxy: MessagesProxy, tmp_path: Path, streamed: bool
) -> None:
    token = new_token()
    output = run_agent(agent_for(message_proxy, "openai-block_request", tmp_path), forbidden(token), streamed)
    assert output == REFUSAL
    [done] = transactions(message_proxy, token, 1)
    assert (done["status"], done["is_streaming"]) == ("blocked", streamed)


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_gets_a_well_formed_message(message_proxy: MessagesProxy, stream: bool) -> None:
    token = new_token()
    messages = [{"role": "user", "content": forbidden(token)}]
    with sdk_client(message_proxy) as (client, tee):
        if stream:
            with client.messages.stream(model="anthropic-block_request", max_tokens=64, messages=messages) as events:
                message = events.get_final_message()
            assert validate_anthropic_stream(parse(bytes(tee.bodies[-1]))) == []
        else:
            message = client.messages.create(model="anthropic-block_request", max_tokens=64, messages=messages)
    assert [(block.type, getattr(block, "text", None)) for block in message.content] == [("text", REFUSAL)]
    assert (message.role, message.stop_reason, message.model) == ("assistant", "end_turn", "anthropic-block_request")
    [done] = transactions(message_proxy, token, 1)
    assert done["status"] == "blocked"


@pytest.mark.parametrize("stream", [False, True])
def test_openai_sdk_gets_a_well_formed_message(message_proxy: MessagesProxy, stream: bool) -> None:
    token = new_token()
    client = openai.OpenAI(base_url=f"{message_proxy.base_url}/v1", api_key=message_proxy.master_key, max_retries=0)
    messages = [{"role": "user", "content": forbidden(token)}]
    if stream:
        with client.chat.completions.stream(model="openai-block_request", messages=messages) as events:
            completion = events.get_final_completion()
    else:
        completion = client.chat.completions.create(model="openai-block_request", messages=messages)
    [choice] = completion.choices
    assert (choice.message.role, choice.message.content) == ("assistant", REFUSAL)
    # LiteLLM's choice for a guardrail's message: `content_filter` when whole, `stop` when streamed.
    assert choice.finish_reason == ("stop" if stream else "content_filter")
    [done] = transactions(message_proxy, token, 1)
    assert done["status"] == "blocked"


def test_anthropic_sdk_raises_bad_request_for_a_blocked_request_by_default(clients_proxy: MessagesProxy) -> None:
    messages = [{"role": "user", "content": forbidden(new_token())}]
    with sdk_client(clients_proxy) as (client, _), pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(model="anthropic-block_request", max_tokens=64, messages=messages)
    assert raised.value.status_code == 400 and REFUSAL in str(raised.value)
    assert raised.value.body == {"type": "error", "error": {"type": "policy_blocked", "message": REFUSAL}}


@pytest.mark.parametrize("stream", [False, True])
def test_openai_responses_get_a_well_formed_message(message_proxy: MessagesProxy, stream: bool) -> None:
    token = new_token()
    client = openai.OpenAI(base_url=f"{message_proxy.base_url}/v1", api_key=message_proxy.master_key, max_retries=0)
    if stream:
        with client.responses.stream(model="openai-block_request", input=forbidden(token)) as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(model="openai-block_request", input=forbidden(token))
    assert response.output_text == REFUSAL
    assert [item.type for item in response.output] == ["message"]
    [done] = transactions(message_proxy, token, 1)
    assert done["status"] == "blocked"
    assert upstream_requests(message_proxy, token) == []
