"""The viewer tests' proxy configuration and the scripted mix of transactions they look at."""

from __future__ import annotations

from pathlib import Path

import anthropic
import openai
import yaml

from tests.fakes.server import FakeUpstream

VIEWER_POLICIES: dict[str, dict[str, object]] = {
    "passthrough": {"class": "passthrough"},
    "all_caps": {"class": "all_caps"},
    "no_shell": {"class": "block_tools", "options": {"tools": ["bash"]}},
    "strict_tools": {"class": "block_tools", "options": {"tools": ["bash"], "block_response": True}},
    "guarded_input": {"class": "tests.e2e.policies:BlockForbiddenRequests"},
    "tool_judge": {"class": "tests.e2e.operators.policies:ScriptedJudge"},
}
OPENAI_MODELS = {
    "gpt-4o": "passthrough",
    "gpt-4o-shouty": "all_caps",
    "gpt-4o-agent": "no_shell",
    "gpt-4o-strict": "strict_tools",
    "gpt-4o-judged": "tool_judge",
}
ANTHROPIC_MODELS = {"claude-sonnet": "no_shell", "claude-guarded": "guarded_input"}


def write_viewer_config(path: Path, upstream: FakeUpstream, **luthien: object) -> None:
    models: list[dict[str, object]] = [
        {
            "model_name": name,
            "litellm_params": {"model": "openai/gpt-4o", "api_base": f"{upstream.base_url}/v1", "api_key": "sk-up"},
            "model_info": {"luthien_policy": policy},
        }
        for name, policy in OPENAI_MODELS.items()
    ] + [
        {
            "model_name": name,
            "litellm_params": {
                "model": "anthropic/claude-sonnet-4-5",
                "api_base": upstream.base_url,
                "api_key": "sk-up",
            },
            "model_info": {"luthien_policy": policy},
        }
        for name, policy in ANTHROPIC_MODELS.items()
    ]
    config = {
        "model_list": models,
        "litellm_settings": {"callbacks": ["luthien_litellm_plugin.callback"], "num_retries": 0, "request_timeout": 30},
        "router_settings": {"num_retries": 0, "disable_cooldowns": True},
        "callback_settings": {"luthien": {"policies": VIEWER_POLICIES, "stream_idle_timeout_seconds": 5, **luthien}},
    }
    path.write_text(yaml.safe_dump(config))


KINDS = (
    "unchanged",
    "unchanged_stream",
    "uppercased",
    "tool_removed",
    "tool_removed_messages",
    "blocked_response",
    "blocked_request",
    "judged",
    "upstream_error",
)


def send_mix(base_url: str, master_key: str, tag: str) -> dict[str, str]:
    """One transaction of each kind the viewer must show, through the official SDKs. Each
    request's text carries `[<tag>-<kind>]`, to find it again; returns kind → that marker."""
    chat = openai.OpenAI(base_url=f"{base_url}/v1", api_key=master_key, max_retries=0)
    claude = anthropic.Anthropic(base_url=base_url, api_key=master_key, max_retries=0)
    marker = {kind: f"[{tag}-{kind}]" for kind in KINDS}

    def complete(kind: str, model: str, text: str, stream: bool = False) -> None:
        content = f"{text} {marker[kind]}"
        if stream:
            for _ in chat.chat.completions.create(
                model=model, messages=[{"role": "user", "content": content}], stream=True
            ):
                pass
        else:
            chat.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])

    def refused(kind: str, model: str, text: str, stream: bool = False) -> None:
        try:
            complete(kind, model, text, stream)
        except openai.APIError:  # an HTTP error, or an error frame in a started stream
            return
        raise AssertionError(f"{model} answered {text!r} instead of refusing")

    complete("unchanged", "gpt-4o", "What is the capital of France?")
    complete("unchanged_stream", "gpt-4o", "Say hello in one sentence.", stream=True)
    complete("uppercased", "gpt-4o-shouty", "Tell me about the fox.", stream=True)
    complete("tool_removed", "gpt-4o-agent", "Check the weather, then clean /tmp. scenario:parallel_tool_calls", True)
    claude.messages.create(
        model="claude-sonnet",
        max_tokens=256,
        messages=[
            {
                "role": "user",
                "content": f"Tidy /tmp please. scenario:parallel_tool_calls {marker['tool_removed_messages']}",
            }
        ],
    )
    refused("blocked_response", "gpt-4o-strict", "Clean up /tmp for me. scenario:tool_only", stream=True)
    try:
        claude.messages.create(
            model="claude-guarded",
            max_tokens=64,
            messages=[{"role": "user", "content": f"Show me the forbidden admin password {marker['blocked_request']}"}],
        )
        raise AssertionError("claude-guarded answered a forbidden request")
    except anthropic.APIStatusError as refusal:  # HTTP 400 policy_blocked
        assert "guarded_input" in str(refusal)
    complete("judged", "gpt-4o-judged", "Get the weather and clean up. scenario:parallel_tool_calls")
    refused("upstream_error", "gpt-4o", "This one fails upstream. scenario:error_500")
    return marker
