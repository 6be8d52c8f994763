"""What the plugin costs: the plugin's arms against stock LiteLLM Proxy, side by side, one run.

    .venv/bin/python -m bench.proxy_overhead [--rounds 5] [--chunks 50]

Starts a fast fake OpenAI upstream and one `litellm --config` process per arm on 127.0.0.1:
  a stock            LiteLLM, no callbacks
  b passthrough      plugin, passthrough, recording to the SQLite default
  c passthrough+pg   plugin, passthrough, recording to Postgres + Redis
  d all_caps         plugin, SimplePolicy upper-casing (holds each text block)
  e block_tools      plugin, block_tools on a tool-call stream (tool allowed: the check runs, passes)
  f guardrail        stock + LiteLLM's own CustomGuardrail doing the same tool-name check
Rounds are interleaved (a b c d e f a b c …) so machine drift hits every arm alike. Every
response is verified. Results: a table of medians with ratios against stock from the same run,
saved to bench/results/proxy_overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


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
    ]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(arm: Arm, upstream: str) -> dict[str, object]:
    params = {"model": "openai/bench", "api_base": f"{upstream}/v1", "api_key": "sk-bench"}
    models = [
        {"model_name": name, "litellm_params": {**params, "model": f"openai/{name}"}}
        for name in ("bench", "bench-tools")
    ]
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


async def workload(arm: Arm, key: str, stream: bool, concurrency: int, requests: int, chunks: int) -> dict[str, float]:
    assert arm.process is not None
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        cpu_before = cpu_seconds(arm.process.pid)
        started = time.perf_counter()
        queue = list(range(requests))
        results: list[tuple[float, float | None]] = []

        async def worker() -> None:
            while queue:
                queue.pop()
                results.append(await one(client, arm, key, stream, chunks))

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


WORKLOADS = {  # name: (stream, concurrency, requests)
    "stream c16": (True, 16, 160),
    "non-stream c16": (False, 16, 160),
    "stream sequential": (True, 1, 30),
}


async def run(rounds: int, chunks: int, all_arms: list[Arm], key: str) -> dict[str, dict[str, list[dict[str, float]]]]:
    samples: dict[str, dict[str, list[dict[str, float]]]] = {w: {a.key: [] for a in all_arms} for w in WORKLOADS}
    for arm in all_arms:  # warm up every arm once
        await workload(arm, key, True, 4, 8, chunks)
        await workload(arm, key, False, 4, 8, chunks)
    for round_number in range(rounds):
        for name, (stream, concurrency, requests) in WORKLOADS.items():
            for arm in all_arms:
                samples[name][arm.key].append(await workload(arm, key, stream, concurrency, requests, chunks))
        print(f"round {round_number + 1}/{rounds} done", file=sys.stderr)
    return samples


def summarize(samples: dict[str, dict[str, list[dict[str, float]]]]) -> dict[str, dict[str, dict[str, float]]]:
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name, per_arm in samples.items():
        medians = {arm: {m: statistics.median(s[m] for s in runs) for m in runs[0]} for arm, runs in per_arm.items()}
        for arm, values in medians.items():
            base = medians[
                "a stock (tools)" if arm in ("e block_tools", "f guardrail (peer)", "a stock (tools)") else "a stock"
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
    args = parser.parse_args()
    key = f"sk-bench-{secrets.token_hex(8)}"
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        upstream_port = free_port()
        upstream = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_upstream", str(upstream_port), str(args.chunks)], cwd=REPO
        )
        all_arms = arms(directory)
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
            samples = asyncio.run(run(args.rounds, args.chunks, all_arms, key))
        finally:
            for arm in processes.values():
                if arm.process is not None:
                    arm.process.terminate()
                    arm.process.wait(timeout=30)
            upstream.terminate()
            upstream.wait(timeout=10)
    table = summarize(samples)
    print_table(table)
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "proxy_overhead.json").write_text(
        json.dumps({"chunks": args.chunks, "rounds": args.rounds, "medians": table}, indent=2)
    )


if __name__ == "__main__":
    main()
