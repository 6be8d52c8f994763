"""`python -m bench.proxy_overhead`: start the upstreams and proxies, run the rounds, report.

    .venv/bin/python -m bench.proxy_overhead [--baseline c423d5c] [--rounds 5] [--requests 150]
        [--arms stock,aa,plugin] [--workloads issue13] [--no-pin]

Arms (`--arms`, comma-separated; stock always runs): `aa` a second, identical stock proxy (the
noise floor); `noop` a CustomLogger declaring the plugin's hooks, each a no-op (what LiteLLM charges
any such plugin); `plugin` passthrough recording to SQLite; `baseline` the same running the code of
`--baseline REF` (a temporary git worktree first on its PYTHONPATH); `pg` passthrough recording
to Postgres + Redis; `caps` all_caps; `tools` block_tools on a tool-call stream; `guardrail`
LiteLLM's own CustomGuardrail doing the same check; `judge` tool_call_judge on the text and the
tool-call stream (a ~20 ms fake judge). Tool-call arms are paired with stock on the tool-call
stream. Workloads (`--workloads`): groups `issue13` (chat + messages), `chat`, `messages`,
`responses`, `all`, or names like `chat:seq50`. `--requests N` is the size of a c16x50
measurement; the others are sized to a similar proxy CPU time.

Proxies run on CPU 0, this process and the fake upstreams on CPU 1. Every proxy loads the same
`sitecustomize.py`, which logs its gen-2 garbage collections and keeps its totals per generation
(the report's gen-0/1 column: collections the request path's allocations trigger). JSON lands in
bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

import yaml

from bench.overhead import arms as arm_catalogue
from bench.overhead import processes, report, workloads
from bench.overhead.arms import REPO, Arm
from bench.overhead.gclog import ENV as GC_ENV
from bench.overhead.gclog import SITE, STATS_ENV, GcLog
from bench.overhead.processes import BENCH_CPUS, PROXY_CPUS, Proxy
from bench.overhead.runner import Runner, log
from bench.overhead.targets import issue_13

DEFAULT_ARMS = "stock,aa,plugin"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=150, help="requests in a c16x50 measurement (default 150)")
    parser.add_argument("--arms", default=None, help=f"default {DEFAULT_ARMS}, and baseline with --baseline")
    parser.add_argument("--workloads", default="issue13")
    parser.add_argument("--baseline", metavar="REF", help="also run the plugin arm on the code of git ref REF")
    parser.add_argument("--no-pin", action="store_true", help="do not pin proxies to CPU 0 and the rest to CPU 1")
    parser.add_argument("--foreign-limit", type=float, default=0.10, help="cores of foreign load that flag a round")
    return parser.parse_args(argv)


def start_upstreams(chunk_counts: list[int], directory: Path, cpus: frozenset[int] | None) -> dict[int, Proxy]:
    """One fake upstream per chunk count."""
    upstreams: dict[int, Proxy] = {}
    for chunks in chunk_counts:
        port = processes.free_port()
        command = [sys.executable, "-m", "bench.fake_upstream", str(port), str(chunks)]
        process = processes.start(command, os.environ, directory / f"upstream-{chunks}.log", REPO, cpus)
        upstreams[chunks] = Proxy(process, f"http://127.0.0.1:{port}")
    for upstream in upstreams.values():
        processes.wait_ready(f"{upstream.url}/v1/chat/completions", upstream.process)
    return upstreams


def environment(arm: Arm, directory: Path, key: str) -> dict[str, str]:
    return {
        **os.environ,
        "LITELLM_MASTER_KEY": key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONPATH": arm_catalogue.pythonpath(arm, SITE),
        "LUTHIEN_SPOOL_DIR": str(directory / f"spool-{arm.process}"),
        GC_ENV: str(directory / f"gc-{arm.process}.log"),
        STATS_ENV: str(directory / f"gc-{arm.process}.stats"),
        **arm.env,
    }


def check_code(arm: Arm, env: dict[str, str]) -> None:
    """The arm's proxy imports the plugin from the arm's code (the baseline worktree, or this tree)."""
    if arm.plugin is None:
        return
    found = subprocess.run(
        [sys.executable, "-c", "import luthien_litellm_plugin as m; print(m.__file__)"],
        env={**env, GC_ENV: ""},
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    ).stdout.strip()
    if not Path(found).is_relative_to(arm.code):
        raise SystemExit(f"{arm.name}: imports the plugin from {found}, not from {arm.code}")


def start_proxies(
    arms: list[Arm], upstreams: dict[int, str], directory: Path, key: str, cpus: frozenset[int] | None
) -> tuple[dict[str, Proxy], dict[str, GcLog]]:
    proxies: dict[str, Proxy] = {}
    gc_logs: dict[str, GcLog] = {}
    litellm = str(Path(sys.executable).parent / "litellm")
    for arm in arms:
        if arm.process in proxies:
            continue
        env = environment(arm, directory, key)
        check_code(arm, env)
        path = directory / f"{arm.process}.yaml"
        path.write_text(yaml.safe_dump(arm_catalogue.config(arm, upstreams)))
        port = processes.free_port()
        command = [litellm, "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
        process = processes.start(command, env, directory / f"{arm.process}.log", directory, cpus)
        proxies[arm.process] = Proxy(process, f"http://127.0.0.1:{port}")
        gc_logs[arm.process] = GcLog(Path(env[GC_ENV]), Path(env[STATS_ENV]))
    for proxy in proxies.values():
        processes.wait_ready(f"{proxy.url}/health/liveliness", proxy.process)
    return proxies, gc_logs


def stop_all(running: list[Proxy]) -> None:
    for proxy in running:
        processes.stop(proxy.process)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the proxies, remove the worktree
    pin = not args.no_pin
    if pin:
        processes.check_cpus()
        os.sched_setaffinity(0, BENCH_CPUS)
    chosen = workloads.select(args.workloads)
    names = (args.arms or DEFAULT_ARMS + (",baseline" if args.baseline else "")).split(",")
    key = f"sk-bench-{secrets.token_hex(8)}"
    started = time.monotonic()
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        baseline = None
        if args.baseline:
            baseline = (args.baseline, stack.enter_context(arm_catalogue.worktree(args.baseline, directory)))
        arms = arm_catalogue.select([n for n in names if n], directory, baseline)
        running: list[Proxy] = []
        stack.callback(stop_all, running)
        upstreams = start_upstreams(sorted({w.chunks for w in chosen}), directory, BENCH_CPUS if pin else None)
        running += upstreams.values()
        proxies, gc_logs = start_proxies(
            arms, {c: u.url for c, u in upstreams.items()}, directory, key, PROXY_CPUS if pin else None
        )
        running += proxies.values()
        log(f"arms: {', '.join(a.name for a in arms)}; workloads: {', '.join(w.name for w in chosen)}")
        runner = Runner(arms, proxies, gc_logs, key, args.requests, args.foreign_limit)
        blocks = asyncio.run(runner.run(chosen, args.rounds))
    minutes = (time.monotonic() - started) / 60
    summary = report.summarize(blocks, arms)
    endpoints = tuple(e for e in ("chat", "messages") if any(w.endpoint == e for w in chosen))
    targets = issue_13(endpoints)
    print(report.markdown(summary, targets, arms))
    print()
    for line in (*report.judge(summary), report.kind_of_day(summary), report.foreign(blocks, args.foreign_limit)):
        if line:
            print(line)
    print(f"{args.rounds} round(s), {minutes:.1f} minutes, CPUs {'pinned' if pin else 'not pinned'}.")
    settings = {**vars(args), "arms": [asdict(a) for a in arms], "minutes": minutes, "pinned": pin}
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    path = results / f"proxy_overhead-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report.to_json(settings, blocks, summary, targets, arms), indent=2, default=str))
    print(f"JSON: {path.relative_to(REPO)}")
