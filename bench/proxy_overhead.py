"""What the plugin costs: the plugin's arms against stock LiteLLM Proxy, side by side, one run.

    .venv/bin/python -m bench.proxy_overhead [--rounds 5] [--chunks 50] [--workloads all|chat|messages|responses]

Starts a fast fake OpenAI + Anthropic upstream and one `litellm --config` process per arm on 127.0.0.1:
  a stock            LiteLLM, no callbacks
  b passthrough      plugin, passthrough, recording to the SQLite default
  c passthrough+pg   plugin, passthrough, recording to Postgres + Redis
  d all_caps         plugin, SimplePolicy upper-casing (holds each text block)
  e block_tools      plugin, block_tools on a tool-call stream (tool allowed: the check runs, passes)
  f guardrail        stock + LiteLLM's own CustomGuardrail doing the same tool-name check
  g/h judge          plugin, tool_call_judge (no cache; judge model group `bench-judge`: the fake's
                     judge endpoint, ~20 ms) on the text stream (g: nothing to judge) and on the
                     tool-call stream (h: one call judged); the judge's own latency is read from
                     the recorded verdicts
Chat workloads POST `/v1/chat/completions` (model `bench`, or `bench-tools` for a/e/f). The
`/v1/messages` workloads POST Anthropic-format requests to the text arms a-d (model group
`bench-messages`: `anthropic/…` on the fake's native Messages endpoint, the proxy hands the plugin
raw Anthropic SSE bytes). The `/v1/responses` workloads POST Responses requests to the text arms
a-d (model group `bench`: LiteLLM calls the fake's native `/v1/responses`, the proxy hands the
plugin its parsed event objects). Rounds are interleaved (a b c d e f a b c …) so machine drift
hits every arm alike. Every response is verified (`/v1/messages` streams the policy leaves alone
byte for byte; `/v1/responses` streams the policy leaves alone byte for byte as stock LiteLLM served
the same request in the same run, response ids aside: LiteLLM encrypts each with a fresh nonce).
Results: a table of medians with ratios against stock from the same run, saved to
bench/results/proxy_overhead.json (proxy_overhead_<workloads>.json for a `--workloads` subset).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from bench.fake_upstream import ANTHROPIC_MODEL, anthropic_stream
from luthien_litellm_plugin.streaming.responses_validator import validate_responses_stream

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
MESSAGES_MODEL = "bench-messages"
ANTHROPIC_VERSION = "2023-06-01"


@dataclass
class Arm:
    key: str
    model: str  # "bench" (text) or "bench-tools"
    plugin: dict[str, object] | None  # callback_settings.luthien, or None for stock
    guardrail: bool = False
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    url: str = ""


def arms(directory: Path) -> list[Arm]:
    return [
        Arm("a stock", "bench", None),
        Arm("a stock (tools)", "bench-tools", None),
        Arm(
            "b passthrough",
            "bench",
            {"default_policy": "passthrough"},
            env={"LUTHIEN_DATABASE_URL": f"sqlite:///{directory}/b.db"},
        ),
        Arm(
            "c passthrough+pg+redis",
            "bench",
            {"default_policy": "passthrough"},
            env={
                "LUTHIEN_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
                "LUTHIEN_REDIS_URL": "redis://127.0.0.1:6379/4",
            },
        ),
        Arm(
            "d all_caps",
            "bench",
            {"default_policy": "all_caps"},
            env={"LUTHIEN_DATABASE_URL": f"sqlite:///{directory}/d.db"},
        ),
        Arm(
            "e block_tools",
            "bench-tools",
            {
                "default_policy": "no_shell",
                "policies": {"no_shell": {"class": "block_tools", "options": {"tools": ["bash", "shell"]}}},
            },
            env={"LUTHIEN_DATABASE_URL": f"sqlite:///{directory}/e.db"},
        ),
        Arm("f guardrail (peer)", "bench-tools", None, guardrail=True),
        Arm("g judge", "bench", JUDGE, env=judge_env(directory)),
        Arm("h judge (tools)", "bench-tools", JUDGE, env=judge_env(directory)),
    ]


JUDGE = {
    "default_policy": "judged",
    "policies": {
        "judged": {"class": "tool_call_judge", "options": {"judge_model": "bench-judge", "cache_ttl_seconds": 0}}
    },
}


def judge_env(directory: Path) -> dict[str, str]:
    return {"LUTHIEN_DATABASE_URL": f"sqlite:///{directory}/g.db", "LUTHIEN_EVENTS_FILE": str(directory / "g.jsonl")}


def judge_latencies(arm: Arm) -> list[float]:
    """`latency_ms` of every verdict a judge arm recorded so far."""
    path = Path(arm.env["LUTHIEN_EVENTS_FILE"])
    events = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [float(e["payload"]["latency_ms"]) for e in events if e["event_type"] == "policy.judge_verdict"]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(arm: Arm, upstream: str) -> dict[str, object]:
    params = {"model": "openai/bench", "api_base": f"{upstream}/v1", "api_key": "sk-bench"}
    models: list[dict[str, object]] = [
        {"model_name": name, "litellm_params": {**params, "model": f"openai/{name}"}}
        for name in ("bench", "bench-tools")
    ]
    messages = {"model": f"anthropic/{ANTHROPIC_MODEL}", "api_base": upstream, "api_key": "sk-bench"}
    models.append({"model_name": MESSAGES_MODEL, "litellm_params": messages})
    judge = {"model": "openai/bench-judge", "api_base": f"{upstream}/judge/v1", "api_key": "sk-bench"}
    models.append({"model_name": "bench-judge", "litellm_params": judge})
    result: dict[str, object] = {
        "model_list": models,
        "litellm_settings": {"num_retries": 0},
        "router_settings": {"num_retries": 0, "disable_cooldowns": True},
    }
    if arm.plugin is not None:
        result["litellm_settings"] = {"num_retries": 0, "callbacks": ["luthien_litellm_plugin.callback"]}
        result["callback_settings"] = {"luthien": arm.plugin}
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


def start(arm: Arm, upstream: str, directory: Path, key: str) -> None:
    path = directory / f"{arm.key.split()[0]}-{len(arm.model)}.yaml"
    path.write_text(yaml.safe_dump(config(arm, upstream)))
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONPATH": str(REPO),
        "LUTHIEN_SPOOL_DIR": str(directory / "spool"),
        **arm.env,
    }
    litellm = str(Path(sys.executable).parent / "litellm")
    log = (directory / f"{path.stem}.log").open("wb")
    arm.process = subprocess.Popen(
        [litellm, "--config", str(path), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=directory,
    )
    arm.url = f"http://127.0.0.1:{port}"


def wait_ready(url: str, process: subprocess.Popen[bytes], path: str = "/health/liveliness") -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            if httpx.get(url + path, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def expected(arm: Arm, chunks: int) -> tuple[str, int | None]:
    """(expected served text, expected number of content chunks or None when policy regroups)."""
    if arm.model == "bench-tools":
        return "Checking.", None
    text = "lorem " * chunks
    if arm.key.startswith("d"):
        return text.upper(), None
    return text, chunks


async def one(client: httpx.AsyncClient, arm: Arm, key: str, stream: bool, chunks: int) -> tuple[float, float | None]:
    body = {"model": arm.model, "messages": [{"role": "user", "content": "go"}], "stream": stream}
    headers = {"Authorization": f"Bearer {key}"}
    want_text, want_chunks = expected(arm, chunks)
    started = time.perf_counter()
    if not stream:
        response = await client.post(f"{arm.url}/v1/chat/completions", json=body, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == want_text
        return elapsed, None
    first: float | None = None
    text, content_chunks, tools = "", 0, 0
    async with client.stream("POST", f"{arm.url}/v1/chat/completions", json=body, headers=headers) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"]
            if delta.get("content"):
                first = first or time.perf_counter() - started
                text += delta["content"]
                content_chunks += 1
            tools += len(delta.get("tool_calls") or [])
    assert text == want_text, (arm.key, text[:80])
    assert want_chunks is None or content_chunks == want_chunks, (arm.key, content_chunks)
    assert arm.model != "bench-tools" or tools > 0
    return time.perf_counter() - started, first


def expected_messages(arm: Arm, chunks: int) -> tuple[str, bytes | None]:
    """(expected served text, the exact expected stream bytes or None when the policy changes them).

    The upstream's bytes, except that LiteLLM itself (stock too) names the model group in `message_start`.
    """
    text = "lorem " * chunks
    if arm.key.startswith("d"):
        return text.upper(), None
    return text, anthropic_stream(chunks, MESSAGES_MODEL)


def sse_events(body: bytes) -> list[dict[str, object]]:
    """The `data:` payloads of an SSE body, checking each `event:` line names its payload's type."""
    events: list[dict[str, object]] = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        data = json.loads(fields["data"])
        assert fields.get("event") == data["type"], block
        events.append(data)
    return events


async def one_message(
    client: httpx.AsyncClient, arm: Arm, key: str, stream: bool, chunks: int
) -> tuple[float, float | None]:
    """One `/v1/messages` request, verified: (latency, time to the first content_block_delta)."""
    body = {
        "model": MESSAGES_MODEL,
        "max_tokens": 256,
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    }
    headers = {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
    want_text, want_bytes = expected_messages(arm, chunks)
    started = time.perf_counter()
    if not stream:
        response = await client.post(f"{arm.url}/v1/messages", json=body, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, (arm.key, response.text)
        message = response.json()
        assert message["type"] == "message" and message["stop_reason"] == "end_turn", message
        assert "".join(b["text"] for b in message["content"] if b["type"] == "text") == want_text, (arm.key, message)
        return elapsed, None
    first: float | None = None
    received = bytearray()
    marker = b"event: content_block_delta"
    async with client.stream("POST", f"{arm.url}/v1/messages", json=body, headers=headers) as response:
        assert response.status_code == 200, (arm.key, await response.aread())
        async for piece in response.aiter_bytes():
            received += piece
            if first is None and marker in received[-len(piece) - len(marker) :]:
                first = time.perf_counter() - started
    elapsed = time.perf_counter() - started
    events = sse_events(bytes(received))
    text = "".join(
        str(e["delta"]["text"])  # type: ignore[index]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"  # type: ignore[index]
    )
    assert text == want_text, (arm.key, text[:80])
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop", (arm.key, events[-1])
    assert want_bytes is None or bytes(received) == want_bytes, (arm.key, bytes(received[:200]))
    return elapsed, first


RESPONSE_ID = re.compile(rb'"id":"resp_[^"]+"')
stock_responses: dict[bool, bytes] = {}
"""What stock LiteLLM (arm a) served for each `/v1/responses` request kind (streamed or not), response id blanked."""


async def one_response(
    client: httpx.AsyncClient, arm: Arm, key: str, stream: bool, chunks: int
) -> tuple[float, float | None]:
    """One `/v1/responses` request, verified: (latency, time to the first `response.output_text.delta`)."""
    body = {"model": arm.model, "input": "hi", "stream": stream}
    headers = {"Authorization": f"Bearer {key}"}
    want_text = ("lorem " * chunks).upper() if arm.key.startswith("d") else "lorem " * chunks
    first: float | None = None
    received = bytearray()
    marker = b'"type":"response.output_text.delta"'
    started = time.perf_counter()
    async with client.stream("POST", f"{arm.url}/v1/responses", json=body, headers=headers) as response:
        assert response.status_code == 200, (arm.key, await response.aread())
        async for piece in response.aiter_bytes():
            received += piece
            if stream and first is None and marker in received[-len(piece) - len(marker) :]:
                first = time.perf_counter() - started
    elapsed = time.perf_counter() - started
    if stream:
        frames = [f for f in bytes(received).split(b"\n\n") if f]
        assert frames[-1] == b"data: [DONE]", (arm.key, frames[-1][:200])
        events = [json.loads(f[len(b"data: ") :]) for f in frames[:-1]]
        assert validate_responses_stream(events) == [], (arm.key, validate_responses_stream(events))
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    else:
        output = json.loads(received)["output"]
        text = "".join(p["text"] for item in output if item["type"] == "message" for p in item["content"])
    assert text == want_text, (arm.key, text[:80])
    if not arm.key.startswith("d"):  # a policy that changes nothing serves exactly what stock serves
        served = RESPONSE_ID.sub(b'"id":"resp_"', bytes(received))
        assert stock_responses.setdefault(stream, served) == served, (arm.key, served[:300])
    return elapsed, first


async def workload(
    arm: Arm, key: str, endpoint: str, stream: bool, concurrency: int, requests: int, chunks: int
) -> dict[str, float]:
    """`requests` requests to one arm's `endpoint` ("chat", "messages", "responses") from `concurrency` workers."""
    assert arm.process is not None
    request = {"messages": one_message, "responses": one_response}.get(endpoint, one)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        cpu_before = cpu_seconds(arm.process.pid)
        started = time.perf_counter()
        queue = list(range(requests))
        results: list[tuple[float, float | None]] = []

        async def worker() -> None:
            while queue:
                queue.pop()
                results.append(await request(client, arm, key, stream, chunks))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(arm.process.pid) - cpu_before
    latencies = sorted(r[0] for r in results)
    firsts = sorted(r[1] for r in results if r[1] is not None)
    return {
        "rps": requests / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "ttfc_p50_ms": statistics.median(firsts) * 1000 if firsts else float("nan"),
        "cpu_ms_per_request": cpu / requests * 1000,
    }


WORKLOADS = {  # name: (endpoint, stream, concurrency, requests)
    "stream c16": ("chat", True, 16, 160),
    "non-stream c16": ("chat", False, 16, 160),
    "stream sequential": ("chat", True, 1, 30),
    "messages stream c16": ("messages", True, 16, 160),
    "messages non-stream c16": ("messages", False, 16, 160),
    "messages stream sequential": ("messages", True, 1, 30),
    "responses stream c16": ("responses", True, 16, 160),
    "responses non-stream c16": ("responses", False, 16, 160),
    "responses stream sequential": ("responses", True, 1, 30),
}


def takes_part(arm: Arm, endpoint: str) -> bool:
    """Chat workloads run on every arm; `/v1/messages` and `/v1/responses` ones on the text arms (a-d)."""
    return endpoint == "chat" or arm.model == "bench"


async def run(
    rounds: int, chunks: int, all_arms: list[Arm], key: str, workloads: dict[str, tuple[str, bool, int, int]]
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Warm every arm up, then `rounds` interleaved rounds of every workload on every arm it applies to."""
    samples: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {a.key: [] for a in all_arms if takes_part(a, endpoint)} for name, (endpoint, *_) in workloads.items()
    }
    for endpoint in sorted({endpoint for endpoint, *_ in workloads.values()}):
        for arm in all_arms:  # warm up every arm once
            if takes_part(arm, endpoint):
                await workload(arm, key, endpoint, True, 4, 8, chunks)
                await workload(arm, key, endpoint, False, 4, 8, chunks)
    for round_number in range(rounds):
        for name, (endpoint, stream, concurrency, requests) in workloads.items():
            for arm in all_arms:
                if takes_part(arm, endpoint):
                    judged = len(judge_latencies(arm)) if arm.key.startswith("h") else 0
                    result = await workload(arm, key, endpoint, stream, concurrency, requests, chunks)
                    if arm.key.startswith("h"):  # the judge's own latency in this sample
                        result["judge_p50_ms"] = statistics.median(judge_latencies(arm)[judged:])
                    samples[name][arm.key].append(result)
        print(f"round {round_number + 1}/{rounds} done", file=sys.stderr)
    return samples


def summarize(samples: dict[str, dict[str, list[dict[str, float]]]]) -> dict[str, dict[str, dict[str, float]]]:
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name, per_arm in samples.items():
        medians = {arm: {m: statistics.median(s[m] for s in runs) for m in runs[0]} for arm, runs in per_arm.items()}
        for arm, values in medians.items():
            base = medians[
                "a stock (tools)"
                if arm in ("e block_tools", "f guardrail (peer)", "a stock (tools)", "h judge (tools)")
                else "a stock"
            ]
            values["throughput_ratio"] = values["rps"] / base["rps"]
            values["added_p50_ms"] = values["p50_ms"] - base["p50_ms"]
            values["added_ttfc_ms"] = values["ttfc_p50_ms"] - base["ttfc_p50_ms"]
            values["cpu_ratio"] = values["cpu_ms_per_request"] / base["cpu_ms_per_request"]
        table[name] = medians
    return table


def print_table(table: dict[str, dict[str, dict[str, float]]]) -> None:
    header = (
        f"{'arm':24} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'ttfc ms':>8} {'cpu ms/req':>10} "
        f"{'tput x':>7} {'+p50 ms':>8} {'+ttfc ms':>8} {'cpu x':>6}"
    )
    for name, per_arm in table.items():
        print(f"\n{name}\n{header}")
        for arm, v in per_arm.items():
            print(
                f"{arm:24} {v['rps']:8.1f} {v['p50_ms']:8.2f} {v['p95_ms']:8.2f} {v['ttfc_p50_ms']:8.2f} "
                f"{v['cpu_ms_per_request']:10.2f} {v['throughput_ratio']:7.3f} {v['added_p50_ms']:8.2f} "
                f"{v['added_ttfc_ms']:8.2f} {v['cpu_ratio']:6.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=50)
    parser.add_argument(
        "--workloads",
        choices=("all", "chat", "messages", "responses"),
        default="all",
        help="/v1/chat/completions, /v1/messages, /v1/responses or all of them (default)",
    )
    args = parser.parse_args()
    workloads = {name: spec for name, spec in WORKLOADS.items() if args.workloads in ("all", spec[0])}
    key = f"sk-bench-{secrets.token_hex(8)}"
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        upstream_port = free_port()
        upstream = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_upstream", str(upstream_port), str(args.chunks)], cwd=REPO
        )
        all_arms = [a for a in arms(directory) if any(takes_part(a, spec[0]) for spec in workloads.values())]
        processes: dict[str, Arm] = {}
        try:
            wait_ready(f"http://127.0.0.1:{upstream_port}", upstream, "/v1/chat/completions")
            for arm in all_arms:
                same = next(
                    (
                        a
                        for a in processes.values()
                        if a.plugin == arm.plugin and a.guardrail == arm.guardrail and a.env == arm.env
                    ),
                    None,
                )
                if same is not None:  # the stock process serves both of its models
                    arm.process, arm.url = same.process, same.url
                    continue
                start(arm, f"http://127.0.0.1:{upstream_port}", directory, key)
                processes[arm.key] = arm
            for arm in processes.values():
                assert arm.process is not None
                wait_ready(arm.url, arm.process)
            samples = asyncio.run(run(args.rounds, args.chunks, all_arms, key, workloads))
        finally:
            for arm in processes.values():
                if arm.process is not None:
                    arm.process.terminate()
                    arm.process.wait(timeout=30)
            upstream.terminate()
            upstream.wait(timeout=10)
    table = summarize(samples)
    print_table(table)
    judged = table.get("stream sequential", {}).get("h judge (tools)")
    if judged is not None:
        added, judge = judged["added_p50_ms"], judged["judge_p50_ms"]
        print(f"\nh, sequential tool-call stream: added p50 {added:.2f} ms, the judge call's own p50 {judge:.2f} ms")
        print(f"   added beyond the judge call: {added - judge:.2f} ms")
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    name = "proxy_overhead.json" if args.workloads == "all" else f"proxy_overhead_{args.workloads}.json"
    (results / name).write_text(
        json.dumps(
            {"chunks": args.chunks, "rounds": args.rounds, "workloads": args.workloads, "medians": table}, indent=2
        )
    )


if __name__ == "__main__":
    main()
