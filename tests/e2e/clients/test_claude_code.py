"""Claude Code (`claude -p`, pinned) through the real proxy: a real tool loop against the scripted fake.

The fake first asks Claude Code's `Bash` tool to run `echo <token> | tee tool-ran-<token>.txt`,
then answers quoting the tool result it finds in the next request.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.e2e.clients.claude_code import ClaudeCode, ClaudeRun, read_until
from tests.e2e.clients.conftest import CLAUDE_MODEL, new_token, tool_loop_prompt, transactions, upstream_requests
from tests.fakes.common import RecordedRequest
from tests.fakes.scenarios import (
    LEAD_IN,
    THINKING,
    THINKING_SIGNATURE,
    tool_loop_answer,
    tool_loop_command,
    tool_result_text,
)

pytestmark = pytest.mark.e2e

THINKING_BLOCK = {"type": "thinking", "thinking": THINKING, "signature": THINKING_SIGNATURE}


def assert_clean_exit(run: ClaudeRun) -> None:
    assert run.returncode == 0, run.describe()
    assert (run.result["subtype"], run.result["is_error"]) == ("success", False), run.describe()


def assistant_history(request: RecordedRequest) -> list[dict[str, object]]:
    """The content blocks of the assistant messages a request sends back."""
    return [block for m in request.body["messages"] if m["role"] == "assistant" for block in m["content"]]


@pytest.mark.parametrize("model", [f"{CLAUDE_MODEL}-passthrough", "anthropic-passthrough", "openai-passthrough"])
def test_passthrough_runs_the_tool_and_answers_with_its_output(claude: ClaudeCode, model: str) -> None:
    token = new_token()
    run, workdir = claude.run("session", model, tool_loop_prompt(token, "Bash"))
    assert_clean_exit(run)
    assert (workdir / f"tool-ran-{token}.txt").read_text() == f"{token}\n"  # the command really ran
    assert run.result["result"] == tool_loop_answer(token)
    [call] = [block for block in run.assistant_blocks if block["type"] == "tool_use"]
    assert (call["name"], call["input"]) == ("Bash", {"command": tool_loop_command(token)})  # exactly as sent
    first, second = upstream_requests(claude.proxy, token)
    assert tool_result_text(first.body) is None
    assert str(tool_result_text(second.body)).strip() == token  # what the fake quoted: the command's output
    assert [t["status"] for t in transactions(claude.proxy, token, 2)] == ["success", "success"]


@pytest.mark.parametrize("policy", ["passthrough", "all_caps"])
def test_thinking_signatures_come_back_intact(claude: ClaudeCode, policy: str) -> None:
    token = new_token()
    run, _ = claude.run("session", f"{CLAUDE_MODEL}-{policy}", tool_loop_prompt(token, "Bash"))
    assert_clean_exit(run)
    first, second = upstream_requests(claude.proxy, token)
    assert first.body["thinking"]["type"] == "enabled"  # Claude Code asks for thinking: the fake streams it
    thinking = [block for block in run.assistant_blocks if block["type"] == "thinking"]
    assert thinking and all(block == THINKING_BLOCK for block in thinking)
    # The fake refuses a changed signature with a 400, as the real API does; it answered, and here is why:
    assert [b for b in assistant_history(second) if b["type"] == "thinking"] == [THINKING_BLOCK]


def test_all_caps_upper_cases_the_answer_and_leaves_the_tool_call_alone(claude: ClaudeCode) -> None:
    token = new_token()
    run, workdir = claude.run("session", f"{CLAUDE_MODEL}-all_caps", tool_loop_prompt(token, "Bash"))
    assert_clean_exit(run)
    assert (workdir / f"tool-ran-{token}.txt").read_text() == f"{token}\n"
    assert run.result["result"] == tool_loop_answer(token).upper()
    texts = [block["text"] for block in run.assistant_blocks if block["type"] == "text"]
    assert texts[0] == LEAD_IN.upper()
    assert [t["policy"] for t in transactions(claude.proxy, token, 2)] == ["all_caps", "all_caps"]


def test_block_tools_stops_the_command_and_the_session_ends_cleanly(claude: ClaudeCode) -> None:
    token = new_token()
    run, workdir = claude.run("session", f"{CLAUDE_MODEL}-no_shell", tool_loop_prompt(token, "Bash"))
    assert_clean_exit(run)
    assert list(workdir.iterdir()) == []  # the command never ran
    assert not [block for block in run.assistant_blocks if block["type"] == "tool_use"]
    result = str(run.result["result"])
    assert "Bash" in result and "no_shell" in result, result
    assert len(upstream_requests(claude.proxy, token)) == 1  # no tool result to send back: no second turn
    [done] = transactions(claude.proxy, token, 1)
    assert done["policy"] == "no_shell"


def test_killing_claude_mid_stream_records_the_transaction_cancelled(claude: ClaudeCode) -> None:
    token = new_token()
    workdir, home = claude.session_dirs("session")
    prompt = f"Say something long. scenario:text chunks:60 chunk_delay_ms:200 {token}"
    model = f"{CLAUDE_MODEL}-passthrough"
    with claude.started(workdir, home, model, prompt, "--include-partial-messages") as process:
        assert process.stdout is not None
        read_until(process.stdout, "text_delta", timeout=60)  # the answer is streaming
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    [done] = transactions(claude.proxy, token, 1)
    assert done["status"] == "cancelled"
    [upstream] = upstream_requests(claude.proxy, token)
    assert upstream.finished.wait(15) and upstream.outcome == "client_disconnected"  # the upstream call was cut too


def test_tool_call_judge_stops_rm_rf_and_lets_the_safe_command_run(claude: ClaudeCode) -> None:
    """The model asks Claude Code's Bash tool for `rm -rf victim-<token>` and then the harmless
    echo; the judge (a model group of the same proxy) blocks the first before any byte of it
    reaches Claude Code, which runs the second."""
    token = new_token()

    def victim(workdir: Path) -> None:
        (workdir / f"victim-{token}").mkdir()
        (workdir / f"victim-{token}" / "precious.txt").write_text("keep me")

    prompt = f"{tool_loop_prompt(token, 'Bash')} danger:victim-{token}"
    run, workdir = claude.run("session", f"{CLAUDE_MODEL}-judged", prompt, prepare=victim)
    assert_clean_exit(run)
    assert (workdir / f"victim-{token}" / "precious.txt").read_text() == "keep me"  # rm -rf never ran
    assert (workdir / f"tool-ran-{token}.txt").read_text() == f"{token}\n"  # the safe command did
    calls = [block["input"] for block in run.assistant_blocks if block["type"] == "tool_use"]
    assert calls == [{"command": tool_loop_command(token)}]
    texts = " ".join(str(block["text"]) for block in run.assistant_blocks if block["type"] == "text")
    assert "[judged: blocked a call to 'Bash' (probability 0.97): deletes files recursively]" in texts
    assert run.result["result"] == tool_loop_answer(token)
    assert [t["status"] for t in transactions(claude.proxy, token, 2)] == ["success", "success"]
