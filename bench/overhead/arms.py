"""The arms: what each proxy runs (LiteLLM config, plugin code, environment)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.fake_upstream import ANTHROPIC_MODEL

REPO = Path(__file__).resolve().parents[2]
TOOLS_MODEL = "bench-tools"
JUDGE_MODEL = "bench-judge"
STOCK = "stock"
STOCK_TOOLS = "stock (tools)"
AA = "stock A/A"
NOOP = "no-op hooks"
PLUGIN = "plugin"

JUDGE = {
    "default_policy": "judged",
    "policies": {
        "judged": {"class": "tool_call_judge", "options": {"judge_model": JUDGE_MODEL, "cache_ttl_seconds": 0}}
    },
}
BLOCK_TOOLS = {
    "default_policy": "no_shell",
    "policies": {"no_shell": {"class": "block_tools", "options": {"tools": ["bash", "shell"]}}},
}


def text_model(chunks: int) -> str:
    """The chat / Responses model group streaming `chunks` text chunks."""
    return f"bench-{chunks}"


def messages_model(chunks: int) -> str:
    """The `/v1/messages` model group (`anthropic/…`) streaming `chunks` text deltas."""
    return f"bench-messages-{chunks}"


@dataclass(frozen=True)
class Arm:
    """One arm. Arms with the same `process` share one proxy (stock serves text and tool models)."""

    name: str
    process: str
    plugin: Mapping[str, object] | None = None  # callback_settings.luthien, None: stock
    tools: bool = False  # requests the tool-call stream (`bench-tools`)
    upper: bool = False  # the policy upper-cases the text (all_caps)
    guardrail: bool = False  # LiteLLM's own CustomGuardrail (the peer)
    noop: bool = False  # a CustomLogger with the plugin's hooks, each a no-op (LiteLLM's floor)
    env: Mapping[str, str] = field(default_factory=dict)
    code: Path = REPO  # where the proxy imports `luthien_litellm_plugin` (and `bench`) from
    events: Path | None = None  # the events file of a judge arm (the judge's own latency)

    @property
    def stock(self) -> bool:
        return self.plugin is None and not self.guardrail and not self.noop

    @property
    def reference(self) -> str:
        """The stock arm this arm's ratios are against."""
        return STOCK_TOOLS if self.tools else STOCK

    @property
    def text(self) -> bool:
        """Whether the arm takes part in `/v1/messages` and `/v1/responses` workloads (text only)."""
        return not self.tools


def sqlite(directory: Path, name: str) -> dict[str, str]:
    return {"LUTHIEN_DATABASE_URL": f"sqlite:///{directory}/{name}.db"}


def catalogue(directory: Path, baseline: tuple[str, Path] | None = None) -> dict[str, list[Arm]]:
    """Every arm by its `--arms` name (some names bring two arms: judge, tools with their stock)."""
    passthrough = {"default_policy": "passthrough"}
    judge_env = {**sqlite(directory, "judge"), "LUTHIEN_EVENTS_FILE": str(directory / "judge.jsonl")}
    events = directory / "judge.jsonl"
    stock_tools = Arm(STOCK_TOOLS, STOCK, tools=True)
    arms = {
        "stock": [Arm(STOCK, STOCK)],
        "aa": [Arm(AA, "aa")],
        "plugin": [Arm(PLUGIN, "plugin", passthrough, env=sqlite(directory, "plugin"))],
        "noop": [Arm(NOOP, "noop", noop=True)],
        "pg": [
            Arm(
                "plugin pg+redis",
                "pg",
                passthrough,
                env={
                    "LUTHIEN_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
                    "LUTHIEN_REDIS_URL": "redis://127.0.0.1:6379/4",
                },
            )
        ],
        "caps": [Arm("all_caps", "caps", {"default_policy": "all_caps"}, upper=True, env=sqlite(directory, "caps"))],
        "tools": [stock_tools, Arm("block_tools", "tools", BLOCK_TOOLS, tools=True, env=sqlite(directory, "tools"))],
        "guardrail": [stock_tools, Arm("guardrail (peer)", "guardrail", tools=True, guardrail=True)],
        "judge": [
            stock_tools,
            Arm("judge", "judge", JUDGE, env=judge_env, events=events),
            Arm("judge (tools)", "judge", JUDGE, tools=True, env=judge_env, events=events),
        ],
    }
    if baseline is not None:
        ref, code = baseline
        arms["baseline"] = [
            Arm(f"baseline {ref}", "baseline", passthrough, env=sqlite(directory, "baseline"), code=code)
        ]
    return arms


def select(names: list[str], directory: Path, baseline: tuple[str, Path] | None) -> list[Arm]:
    """The arms `names` bring, stock first, each once."""
    known = catalogue(directory, baseline)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown arms {unknown}; known: {sorted(known)} (baseline needs --baseline REF)")
    chosen: dict[str, Arm] = {a.name: a for a in known["stock"]}
    for name in names:
        chosen.update({a.name: a for a in known[name]})
    return list(chosen.values())


def config(arm: Arm, upstreams: Mapping[int, str]) -> dict[str, object]:
    """The LiteLLM config of `arm`'s proxy: model groups per chunk count (upstream by chunk count)."""
    key = "sk-bench"
    models: list[dict[str, object]] = []
    for chunks, url in upstreams.items():
        models.append(
            {
                "model_name": text_model(chunks),
                "litellm_params": {"model": f"openai/{text_model(chunks)}", "api_base": f"{url}/v1", "api_key": key},
            }
        )
        models.append(
            {
                "model_name": messages_model(chunks),
                "litellm_params": {"model": f"anthropic/{ANTHROPIC_MODEL}", "api_base": url, "api_key": key},
            }
        )
    first = next(iter(upstreams.values()))
    models.append(
        {
            "model_name": TOOLS_MODEL,
            "litellm_params": {"model": f"openai/{TOOLS_MODEL}", "api_base": f"{first}/v1", "api_key": key},
        }
    )
    models.append(
        {
            "model_name": JUDGE_MODEL,
            "litellm_params": {"model": f"openai/{JUDGE_MODEL}", "api_base": f"{first}/judge/v1", "api_key": key},
        }
    )
    settings: dict[str, object] = {"num_retries": 0}
    result: dict[str, object] = {
        "model_list": models,
        "litellm_settings": settings,
        "router_settings": {"num_retries": 0, "disable_cooldowns": True},
    }
    if arm.plugin is not None:
        settings["callbacks"] = ["luthien_litellm_plugin.callback"]
        result["callback_settings"] = {"luthien": dict(arm.plugin)}
    if arm.noop:
        settings["callbacks"] = ["bench.noop_hook.handler"]
    if arm.guardrail:
        result["guardrails"] = [
            {
                "guardrail_name": "tool-name-check",
                "litellm_params": {
                    "guardrail": "bench.guardrail_peer.ToolNameGuardrail",
                    "mode": "post_call",
                    "default_on": True,
                },
            }
        ]
    return result


def pythonpath(arm: Arm, site: Path) -> str:
    """The GC-logging site directory first (every arm alike), then the arm's code."""
    return f"{site}:{arm.code}"


def judge_latencies(arm: Arm) -> list[float]:
    """`latency_ms` of every verdict a judge arm recorded so far."""
    if arm.events is None or not arm.events.exists():
        return []
    events = [json.loads(line) for line in arm.events.read_text().splitlines()]
    return [float(e["payload"]["latency_ms"]) for e in events if e["event_type"] == "policy.judge_verdict"]


@contextmanager
def worktree(ref: str, directory: Path) -> Iterator[Path]:
    """A detached git worktree of `ref` under `directory`, removed on exit."""
    path = directory / "baseline"
    git = ["git", "-C", str(REPO)]
    subprocess.run([*git, "worktree", "add", "--quiet", "--detach", str(path), ref], check=True)
    try:
        yield path
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(path)], check=False)
        subprocess.run([*git, "worktree", "prune"], check=False)
