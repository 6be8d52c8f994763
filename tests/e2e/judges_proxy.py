"""One real proxy with judge policies, in front of the fake upstream and its fake judge model.

The judge model groups (`judge`, `judge-slow-2500`, …) point at the fake's `/judge/v1`, which
answers verdicts from what it is asked (see `tests.fakes.judge_upstream`). They name no policy,
so they are under `passthrough`, unlike the requests whose judges call them: a judge call the
plugin did not make as its own internal call would be refused by the deployment check.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import openai
import pytest

from luthien_litellm_plugin.events import POLICY_JUDGE_VERDICT
from luthien_litellm_plugin.storage.jsonl import read_events
from tests.e2e.messages_proxy import TOOLS, MessagesProxy, running_messages_proxy, sdk_client
from tests.fakes.judge_upstream import JudgeCall
from tests.fakes.server import FakeUpstream

JUDGE_MODELS = (
    "judge",
    "judge-chatty",
    "judge-gated",
    "judge-slow-2500",
    "judge-slow-3000",
    "judge-500",
    "judge-garbage",
)
KEY_RULE = "Replace anything that looks like an API key with [redacted]."


def judged(judge_model: str, **options: object) -> dict[str, object]:
    return {"class": "tool_call_judge", "options": {"judge_model": judge_model, **options}}


JUDGE_POLICIES: dict[str, dict[str, object]] = {
    "passthrough": {"class": "passthrough"},
    "judged": judged("judge"),
    "judged_chatty": judged("judge-chatty"),
    "judged_gated": judged("judge-gated", timeout_seconds=60),
    "judged_slow": judged("judge-slow-2500"),  # longer than the proxy's 2 s idle timeout
    "judged_timeout": judged("judge-slow-3000", timeout_seconds=1),
    "judged_500": judged("judge-500"),
    "judged_garbage": judged("judge-garbage"),
    "judged_allow": judged("judge-500", on_error="allow"),
    "judged_refuse": judged("judge", block_response=True),
    "no_keys": {"class": "llm_rule", "options": {"judge_model": "judge", "instruction": KEY_RULE}},
    "no_shell": {"class": "block_tools", "options": {"tools": ["bash"]}},
    "guarded": {"chain": ["no_shell", "judged", "no_keys"]},
    "shouted_rule": {"chain": ["all_caps", "no_keys"]},
}
KEEPALIVE_SECONDS = 0.5
"""The proxy's `stream_keepalive_seconds`: short, so that every held stream here carries keepalives."""


def judge_models(fake: FakeUpstream, names: tuple[str, ...] = JUDGE_MODELS) -> list[dict[str, object]]:
    """Model groups for the fake judge models `names` (see `tests.fakes.judge_upstream`)."""
    return [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{name}",
                "api_base": f"{fake.base_url}/judge/v1",
                "api_key": "sk-judge",
            },
        }
        for name in names
    ]


@pytest.fixture(scope="module")
def judge_fake() -> Iterator[FakeUpstream]:
    with FakeUpstream.running() as fake:
        yield fake


@pytest.fixture(scope="module")
def judges_proxy(judge_fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MessagesProxy]:
    with running_messages_proxy(
        tmp_path_factory.mktemp("judges_proxy"),
        judge_fake,
        JUDGE_POLICIES,
        settings={"stream_keepalive_seconds": KEEPALIVE_SECONDS},
        extra_models=judge_models(judge_fake),
    ) as proxy:
        yield proxy


def new_tag() -> str:
    """Makes a scenario's tool calls unique (`tag:` knob), so no judge answers from its cache."""
    return f"t{uuid.uuid4().hex[:16]}"


# ----- asking the proxy, as each SDK would -----

OPENAI_TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("get_weather", "bash", "get_time", "run")
]
MESSAGES_TOOLS = [*TOOLS, {"name": "run", "description": "the run tool", "input_schema": {"type": "object"}}]


@dataclass
class Answer:
    """What a client got: its text, its tool calls (name, arguments), how it stopped."""

    text: str = ""
    calls: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    stop: str | None = None

    @property
    def call_names(self) -> list[str]:
        return [name for name, _ in self.calls]


def ask(proxy: MessagesProxy, api: str, model: str, content: str, *, stream: bool) -> Answer:
    """One request through the official SDK of `api` ("chat" or "messages")."""
    if api == "chat":
        return ask_chat(proxy, model, content, stream=stream)
    return ask_messages(proxy, model, content, stream=stream)


def openai_client(proxy: MessagesProxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=proxy.master_key, max_retries=0, timeout=60)


def ask_chat(proxy: MessagesProxy, model: str, content: str, *, stream: bool) -> Answer:
    client = openai_client(proxy)
    messages: list[dict[str, object]] = [{"role": "user", "content": content}]
    if not stream:
        message = client.chat.completions.create(model=model, messages=messages, tools=OPENAI_TOOLS)  # type: ignore[arg-type]
        choice = message.choices[0]
        calls = [(c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls or []]  # type: ignore[union-attr]
        return Answer(choice.message.content or "", calls, choice.finish_reason)
    answer, arguments = Answer(), {}
    names: dict[int, str] = {}
    for chunk in client.chat.completions.create(model=model, messages=messages, tools=OPENAI_TOOLS, stream=True):  # type: ignore[arg-type]
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        answer.text += delta.content or ""
        for call in delta.tool_calls or []:
            if call.function and call.function.name:
                names[call.index] = call.function.name
            arguments[call.index] = arguments.get(call.index, "") + ((call.function and call.function.arguments) or "")
        answer.stop = chunk.choices[0].finish_reason or answer.stop
    answer.calls = [(names[i], json.loads(arguments[i])) for i in sorted(names)]
    return answer


def ask_messages(proxy: MessagesProxy, model: str, content: str, *, stream: bool) -> Answer:
    with sdk_client(proxy) as (client, _):
        request: dict[str, object] = {
            "model": model,
            "max_tokens": 256,
            "messages": [{"role": "user", "content": content}],
            "tools": MESSAGES_TOOLS,
        }
        if stream:
            with client.messages.stream(**request) as events:  # type: ignore[arg-type]
                message = events.get_final_message()
        else:
            message = client.messages.create(**request)  # type: ignore[arg-type]
    text = "".join(block.text for block in message.content if block.type == "text")
    calls = [(block.name, dict(block.input)) for block in message.content if block.type == "tool_use"]  # type: ignore[arg-type]
    return Answer(text, calls, message.stop_reason)


# ----- what the proxy recorded, what the judge was asked -----


def verdicts(proxy: MessagesProxy, transaction_id: str) -> list[dict[str, object]]:
    """The `policy.judge_verdict` payloads of a finished transaction, in order."""
    found = [e["payload"] for e in proxy.events(transaction_id) if e["event_type"] == POLICY_JUDGE_VERDICT]
    return [payload for payload in found if isinstance(payload, dict)]


def judge_calls_about(fake: FakeUpstream, text: str) -> list[JudgeCall]:
    """The requests the fake judge received whose prompt contains `text`."""
    return [call for call in fake.judge_calls if text in call.prompt]


def transaction_models(proxy: MessagesProxy) -> list[str]:
    """The model of every transaction the proxy recorded."""
    events = read_events(proxy.events_file)
    return [str(e["payload"].get("model")) for e in events if e["event_type"] == "transaction.request_recorded"]  # type: ignore[union-attr]
