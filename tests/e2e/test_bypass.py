"""The bypass matrix: every way a client holding a valid key can ask for a policed model.

One real proxy with two policed groups, `gpt-block` (block_tools: bash) and `gpt-caps`
(all_caps), the same on an Anthropic backend, a passthrough group and a dead one, plus every
other name LiteLLM accepts for them (alias, deployment id, provider model string with
`specific_deployment`, wildcard, comma list, client fallbacks). Each attempt goes through a
route, streaming or not, and must end one of two ways:

- **acted**: the response shows the policy's effect (no `bash` tool call / upper-case text) and
  the transaction is recorded under that policy;
- **refused**: an error naming the refusal, in the route's own error format, recorded
  `blocked`, and nothing reached the fake upstream (it counts every request, on any path).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import httpx
import pytest
import yaml

from tests.e2e.conftest import Proxy, start_proxy, stop_proxy
from tests.fakes.scenarios import TEXT
from tests.fakes.server import FakeUpstream, free_port

Verdict = Literal["acted", "refused", "rejected by litellm"]
POLICIES = {
    "no_shell": {"class": "block_tools", "options": {"tools": ["bash"]}},
    "caps": {"class": "all_caps"},
}
UPSTREAM_KEY = "sk-upstream-secret"


def _models(base_url: str, dead_url: str) -> list[dict[str, object]]:
    def openai(group: str, model: str, policy: str | None, deployment_id: str, api_base: str) -> dict[str, object]:
        info: dict[str, object] = {"id": deployment_id}
        if policy is not None:
            info["luthien_policy"] = policy
        params = {"model": model, "api_base": api_base, "api_key": UPSTREAM_KEY}
        return {"model_name": group, "litellm_params": params, "model_info": info}

    return [
        openai("gpt-block", "openai/gpt-4o-block", "no_shell", "dep-block", f"{base_url}/v1"),
        openai("gpt-caps", "openai/gpt-4o-caps", "caps", "dep-caps", f"{base_url}/v1"),
        openai("gpt-pass", "openai/gpt-4o", None, "dep-pass", f"{base_url}/v1"),
        openai("dead-pass", "openai/gpt-4o-dead", None, "dep-dead", f"{dead_url}/v1"),
        openai("wild-block/*", "openai/*", "no_shell", "dep-wild", f"{base_url}/v1"),
        {
            "model_name": "claude-block",
            "litellm_params": {"model": "anthropic/claude-sonnet-4-5", "api_base": base_url, "api_key": UPSTREAM_KEY},
            "model_info": {"id": "dep-claude-block", "luthien_policy": "no_shell"},
        },
        {
            "model_name": "claude-pass",
            "litellm_params": {"model": "anthropic/claude-sonnet-4-5", "api_base": base_url, "api_key": UPSTREAM_KEY},
            "model_info": {"id": "dep-claude-pass"},
        },
        {
            "model_name": "claude-caps",
            "litellm_params": {"model": "anthropic/claude-sonnet-4-5", "api_base": base_url, "api_key": UPSTREAM_KEY},
            "model_info": {"id": "dep-claude-caps", "luthien_policy": "caps"},
        },
    ]


@dataclass
class BypassProxy:
    proxy: Proxy
    fake: FakeUpstream

    def blocked_rows(self) -> int:
        with sqlite3.connect(self.proxy.database) as db:
            try:
                return int(db.execute("SELECT count(*) FROM transactions WHERE status = 'blocked'").fetchone()[0])
            except sqlite3.OperationalError:  # not migrated yet
                return 0

    def wait_blocked_rows(self, count: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.blocked_rows() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} blocked transactions, have {self.blocked_rows()}")
            time.sleep(0.05)  # the proxy writes on its own schedule; bounded by the deadline


@pytest.fixture(scope="module")
def bypass_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BypassProxy]:
    directory = tmp_path_factory.mktemp("bypass")
    with FakeUpstream.running(anthropic_writes="aligned") as fake:
        config = directory / "litellm_config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "model_list": _models(fake.base_url, f"http://127.0.0.1:{free_port()}"),
                    "litellm_settings": {
                        "callbacks": ["luthien_litellm_plugin.callback"],
                        "num_retries": 0,
                        "request_timeout": 30,
                    },
                    "router_settings": {
                        "num_retries": 0,
                        "disable_cooldowns": True,
                        "model_group_alias": {"alias-block": "gpt-block", "alias-caps": "gpt-caps"},
                    },
                    "callback_settings": {"luthien": {"policies": POLICIES, "stream_idle_timeout_seconds": 5}},
                }
            )
        )
        # The provider pass-through routes use the proxy's own provider credentials; point them at
        # the fake, so that anything they let through would be counted.
        env = {
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "OPENAI_API_BASE": fake.base_url,
            "ANTHROPIC_API_KEY": UPSTREAM_KEY,
            "ANTHROPIC_API_BASE": fake.base_url,
        }
        events = directory / "events.jsonl"
        process, base_url, key = start_proxy(config, events, directory / "proxy.log", extra_env=env)
        try:
            yield BypassProxy(Proxy(base_url, key, events, fake, directory / "proxy.log"), fake)
        finally:
            stop_proxy(process)


@dataclass(frozen=True)
class Attempt:
    name: str
    path: str
    body: dict[str, object] = field(default_factory=dict)
    verdict: Verdict = "refused"
    effect: Literal["no_bash", "caps"] = "no_bash"
    method: str = "POST"
    reaches_upstream: int = 0
    """Upstream requests a refused attempt may make (a policed primary that failed before a
    refused fallback); an acted attempt always reaches it once."""
    names_refusal: bool = True
    """Whether the client sees our message (LiteLLM's batch endpoints answer any error with a bare
    500 when Prisma is not installed, as with a plain `pip install litellm[proxy]`)."""


def chat(model: str, scenario: str, **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": f"scenario:{scenario}"}], **extra}


def messages(model: str, scenario: str, **extra: object) -> dict[str, object]:
    return {"max_tokens": 256, **chat(model, scenario), **extra}


def responses(model: str, scenario: str, **extra: object) -> dict[str, object]:
    return {"model": model, "input": f"scenario:{scenario}", **extra}


def gemini(scenario: str) -> dict[str, object]:
    return {"contents": [{"role": "user", "parts": [{"text": f"scenario:{scenario}"}]}]}


def _attempts() -> list[Attempt]:
    tools, text, calls = "tool_calls", "text", "parallel_tool_calls"
    found: list[Attempt] = []
    for stream in (False, True):
        s = "stream" if stream else "full"
        found += [
            # every name for a policed model, on the chat route
            Attempt(f"chat group {s}", "/v1/chat/completions", chat("gpt-block", tools, stream=stream), "acted"),
            Attempt(f"chat no /v1 {s}", "/chat/completions", chat("gpt-caps", text, stream=stream), "acted", "caps"),
            Attempt(
                f"chat engines {s}",
                "/engines/gpt-block/chat/completions",
                chat("gpt-block", tools, stream=stream),
                "acted",
            ),
            Attempt(
                f"chat azure-style {s}",
                "/openai/deployments/gpt-caps/chat/completions",
                chat("gpt-caps", text, stream=stream),
                "acted",
                "caps",
            ),
            Attempt(f"alias {s}", "/v1/chat/completions", chat("alias-block", tools, stream=stream), "acted"),
            Attempt(
                f"alias caps {s}", "/v1/chat/completions", chat("alias-caps", text, stream=stream), "acted", "caps"
            ),
            Attempt(f"deployment id {s}", "/v1/chat/completions", chat("dep-block", tools, stream=stream), "acted"),
            Attempt(f"wildcard {s}", "/v1/chat/completions", chat("wild-block/gpt-4o", tools, stream=stream), "acted"),
            Attempt(
                f"specific_deployment {s}",
                "/v1/chat/completions",
                chat("openai/gpt-4o-block", tools, stream=stream, specific_deployment=True),
                "acted",
            ),
            Attempt(f"comma list {s}", "/v1/chat/completions", chat("gpt-pass,gpt-block", tools, stream=stream)),
            Attempt(
                f"comma list fastest {s}",
                "/v1/chat/completions",
                chat("gpt-caps,gpt-pass", text, stream=stream, fastest_response=True),
            ),
            Attempt(
                f"client fallback into a policed group {s}",
                "/v1/chat/completions",
                chat("dead-pass", tools, stream=stream, fallbacks=["gpt-block"]),
            ),
            Attempt(
                f"client fallback out of a policed group {s}",
                "/v1/chat/completions",
                chat("gpt-block", "error_500", stream=stream, fallbacks=["gpt-pass"]),
                reaches_upstream=1,
            ),
            # Anthropic Messages
            Attempt(f"messages {s}", "/v1/messages", messages("claude-block", tools, stream=stream), "acted"),
            Attempt(
                f"messages caps {s}", "/v1/messages", messages("claude-caps", text, stream=stream), "acted", "caps"
            ),
            Attempt(
                f"messages fallback {s}",
                "/v1/messages",
                messages("dead-pass", tools, stream=stream, fallbacks=["claude-block"]),
            ),
            # OpenAI Responses
            Attempt(f"responses {s}", "/v1/responses", responses("gpt-block", calls, stream=stream), "acted"),
            Attempt(f"responses no /v1 {s}", "/responses", responses("gpt-caps", text, stream=stream), "acted", "caps"),
            Attempt(
                f"responses openai prefix {s}",
                "/openai/v1/responses",
                responses("gpt-block", calls, stream=stream),
                "acted",
            ),
            Attempt(
                f"responses anthropic backend {s}",
                "/v1/responses",
                responses("claude-caps", text, stream=stream),
                "acted",
                "caps",
            ),
            Attempt(f"responses alias {s}", "/v1/responses", responses("alias-block", calls, stream=stream), "acted"),
            Attempt(
                f"responses fallback {s}",
                "/v1/responses",
                responses("dead-pass", calls, stream=stream, fallbacks=["gpt-block"]),
            ),
            # routes the plugin does not cover
            Attempt(f"completions {s}", "/v1/completions", {"model": "gpt-caps", "prompt": "hi", "stream": stream}),
            Attempt(
                f"engines completions {s}",
                "/engines/gpt-block/completions",
                {"model": "gpt-block", "prompt": "hi", "stream": stream},
            ),
        ]
    found += [
        Attempt("gemini generate", "/v1beta/models/gpt-block:generateContent", gemini(tools)),
        Attempt("gemini stream", "/v1beta/models/gpt-caps:streamGenerateContent?alt=sse", gemini(text)),
        Attempt("gemini no v1beta", "/models/gpt-block:generateContent", gemini(tools)),
        Attempt("embeddings", "/v1/embeddings", {"model": "gpt-block", "input": "hi"}),
        Attempt("stored response", "/v1/responses/resp_123", method="GET"),
        Attempt(
            "batches",
            "/v1/batches",
            {"input_file_id": "file-1", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
            names_refusal=False,
        ),
        Attempt("count tokens", "/v1/messages/count_tokens", messages("claude-block", tools)),
        Attempt("gemini count tokens", "/v1beta/models/gpt-block:countTokens", gemini(tools)),
        Attempt("responses input tokens", "/v1/responses/input_tokens", {"model": "gpt-block", "input": "hi"}),
        Attempt("token counter", "/utils/token_counter?call_endpoint=true", chat("claude-block", tools)),
        Attempt("responses compact", "/v1/responses/compact", {"model": "gpt-block", "input": "hi"}),
        Attempt(
            "azure-style completions", "/openai/deployments/gpt-caps/completions", {"model": "gpt-caps", "prompt": "hi"}
        ),
        # routing knobs LiteLLM itself refuses from a client
        Attempt(
            "client api_base",
            "/v1/chat/completions",
            chat("gpt-block", tools, api_base="http://127.0.0.1:9"),
            "rejected by litellm",
        ),
        Attempt(
            "client user_config",
            "/v1/chat/completions",
            chat("gpt-block", tools, user_config={"model_list": []}),
            "rejected by litellm",
        ),
        Attempt("anthropic pass-through", "/anthropic/v1/messages", messages("claude-sonnet-4-5", tools)),
        Attempt("openai pass-through", "/openai/v1/chat/completions", chat("gpt-4o", tools)),
        Attempt("openai_passthrough", "/openai_passthrough/v1/chat/completions", chat("gpt-4o", tools)),
    ]
    return found


ATTEMPTS = _attempts()


@pytest.mark.e2e
@pytest.mark.parametrize("attempt", ATTEMPTS, ids=[a.name for a in ATTEMPTS])
def test_every_way_to_a_policed_model_runs_its_policy_or_is_refused(
    bypass_proxy: BypassProxy, attempt: Attempt
) -> None:
    proxy, fake = bypass_proxy.proxy, bypass_proxy.fake
    before_upstream, before_blocked = len(fake.requests), bypass_proxy.blocked_rows()
    response = httpx.request(
        attempt.method, proxy.base_url + attempt.path, json=attempt.body or None, headers=proxy.headers, timeout=60
    )
    body = response.text
    reached = fake.requests[before_upstream:]
    if attempt.verdict == "acted":
        assert response.status_code == 200, body[:2000]
        assert len(reached) == 1, [r.path for r in reached]
        _assert_effect(attempt.effect, body)
        transaction_id = response.headers["x-luthien-transaction-id"]
        row = proxy.transaction_row(transaction_id)
        assert row["policy"] == ("no_shell" if attempt.effect == "no_bash" else "caps")
        assert row["status"] == "success"
        return
    assert response.status_code >= 400, body[:2000]
    assert len(reached) == attempt.reaches_upstream, [(r.path, r.body) for r in reached]
    if attempt.verdict == "rejected by litellm":
        assert "Refused by luthien" not in body, body[:2000]
        return
    assert ("Refused by luthien" in body) == attempt.names_refusal, body[:2000]
    bypass_proxy.wait_blocked_rows(before_blocked + 1)


def _assert_effect(effect: str, body: str) -> None:
    if effect == "caps":
        assert TEXT.upper().split(" ")[0] in body and TEXT.split(" ")[1] not in body, body[:2000]
        return
    assert "rm -rf" not in body and "get_weather" in body, body[:2000]


@pytest.mark.e2e
def test_a_guarded_route_still_serves_a_passthrough_model(bypass_proxy: BypassProxy) -> None:
    """The token-counting guard hands a passthrough model's request to LiteLLM's own route."""
    proxy, fake = bypass_proxy.proxy, bypass_proxy.fake
    before = len(fake.requests)
    body = messages("claude-pass", "text")
    response = httpx.post(f"{proxy.base_url}/v1/messages/count_tokens", json=body, headers=proxy.headers, timeout=60)
    assert "Refused by luthien" not in response.text
    [reached] = fake.requests[before:]
    assert reached.path == "/v1/messages/count_tokens"
    assert reached.body["messages"] == body["messages"]


@pytest.mark.e2e
def test_health_checks_still_reach_policed_models(bypass_proxy: BypassProxy) -> None:
    """LiteLLM's own health check calls each deployment; it is not a client request."""
    proxy = bypass_proxy.proxy
    response = httpx.get(f"{proxy.base_url}/health", headers=proxy.headers, timeout=120)
    assert response.status_code == 200, response.text
    healthy = {endpoint["model"] for endpoint in response.json()["healthy_endpoints"]}
    assert "openai/gpt-4o-block" in healthy, response.text
