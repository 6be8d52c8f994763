"""The workloads, and measuring one workload on one arm: a `Sample`."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, replace
from typing import Literal

import httpx

from bench.overhead.arms import Arm, judge_latencies
from bench.overhead.gclog import GcLog
from bench.overhead.processes import cpu_seconds
from bench.overhead.requests import ENDPOINTS, Call, Timing

Endpoint = Literal["chat", "messages", "responses"]
SETTLE_SECONDS = 0.25
"""After the last response and before reading the proxy's CPU: its background work (recording the last
transactions) belongs to this measurement."""


@dataclass(frozen=True)
class Workload:
    """`weight` × `--requests` requests to `endpoint` from `concurrency` workers."""

    endpoint: Endpoint
    kind: str  # seq50, c16x5, c16x50, c16-nostream
    stream: bool
    concurrency: int
    chunks: int
    weight: float
    conversation: bool = False  # the request carries an agent's long conversation (`requests.CONVERSATION`)

    @property
    def name(self) -> str:
        return f"{self.endpoint} {self.kind}"

    @property
    def sequential(self) -> bool:
        return self.concurrency == 1

    def requests(self, base: int) -> int:
        return max(self.concurrency, round(base * self.weight))

    def takes_part(self, arm: Arm) -> bool:
        """Chat workloads run on every arm; `/v1/messages` and `/v1/responses` ones on text arms."""
        return self.endpoint == "chat" or arm.text


def kinds(endpoint: Endpoint) -> list[Workload]:
    """Issue 13's four workloads on one endpoint; weights give each a similar proxy CPU time."""
    return [
        Workload(endpoint, "seq50", True, 1, 50, 0.8),
        Workload(endpoint, "c16x5", True, 16, 5, 3.0),
        Workload(endpoint, "c16x50", True, 16, 50, 1.0),
        Workload(endpoint, "c16-nostream", False, 16, 50, 3.0),
    ]


ENDPOINT_NAMES: tuple[Endpoint, ...] = ("chat", "messages", "responses")


def agent_kinds(endpoint: Endpoint) -> list[Workload]:
    """An agent's turn: a long conversation sent (tools, tool results), a short answer streamed back.
    Chat and `/v1/messages` only: the bench has no Responses form of the conversation."""
    if endpoint == "responses":
        return []
    return [Workload(endpoint, "agent5", True, 1, 5, 0.8, conversation=True)]


CATALOGUE: dict[str, Workload] = {w.name: w for e in ENDPOINT_NAMES for w in (*kinds(e), *agent_kinds(e))}
GROUPS: dict[str, list[str]] = {
    "issue13": [n for n, w in CATALOGUE.items() if not n.startswith("responses") and not w.conversation],
    "agents": [n for n, w in CATALOGUE.items() if w.conversation],
    "all": list(CATALOGUE),
    **{e: [n for n, w in CATALOGUE.items() if n.startswith(e) and not w.conversation] for e in ENDPOINT_NAMES},
}


def select(spec: str) -> list[Workload]:
    """Workloads from a comma-separated list of groups (issue13, agents, all, chat, messages, responses)
    or names."""
    names: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        found = GROUPS.get(part) or [n for n in CATALOGUE if n == part.replace(":", " ")]
        if not found:
            raise SystemExit(f"unknown workload {part!r}; groups {sorted(GROUPS)}, names like 'chat:seq50'")
        names.extend(n for n in found if n not in names)
    return [CATALOGUE[n] for n in names]


@dataclass(frozen=True)
class Sample:
    """One measurement of one workload on one arm."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    ttfc_p50_ms: float | None
    cpu_ms: float  # proxy CPU per request, the whole process tree
    cpu_ex_gc_ms: float  # the same without the gen-2 collections' CPU
    gc2: int  # gen-2 collections during the measurement
    gc2_ms: float
    judge_p50_ms: float | None = None
    young_gc: int = 0  # gen-0 and gen-1 collections during the measurement
    young_gc_ms: float = 0.0  # their CPU (part of cpu_ms and of cpu_ex_gc_ms)


def summarize(timings: list[Timing], seconds: float, cpu: float, gc2: int, gc2_cpu: float) -> Sample:
    """A `Sample` from the requests' timings, the wall time, and the proxy's CPU and gen-2 CPU seconds."""
    latencies = sorted(t.seconds for t in timings)
    firsts = [t.first for t in timings if t.first is not None]
    count = len(timings)
    return Sample(
        requests=count,
        seconds=seconds,
        rps=count / seconds,
        p50_ms=statistics.median(latencies) * 1000,
        p95_ms=latencies[max(0, int(count * 0.95) - 1)] * 1000,
        ttfc_p50_ms=statistics.median(firsts) * 1000 if firsts else None,
        cpu_ms=cpu / count * 1000,
        cpu_ex_gc_ms=(cpu - gc2_cpu) / count * 1000,
        gc2=gc2,
        gc2_ms=gc2_cpu * 1000,
    )


async def fire(call: Call, endpoint: Endpoint, concurrency: int, requests: int) -> list[Timing]:
    """`requests` verified requests from `concurrency` workers."""
    send = ENDPOINTS[endpoint]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timings: list[Timing] = []
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                timings.append(await send(client, call))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return timings


async def measure(workload: Workload, arm: Arm, call: Call, pid: int, gc: GcLog, requests: int) -> Sample:
    """Measure `workload` on `arm` (proxy `pid`): wall time, latencies, the proxy tree's CPU, its collections."""
    judged = len(judge_latencies(arm))
    mark, generations = gc.mark(), gc.generations()
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    timings = await fire(call, workload.endpoint, workload.concurrency, requests)
    seconds = time.perf_counter() - started
    await asyncio.sleep(SETTLE_SECONDS)
    cpu = cpu_seconds(pid) - cpu_before
    collections = gc.since(mark)
    young = gc.generations().since(generations)
    sample = summarize(timings, seconds, cpu, collections.count, collections.cpu_seconds)
    sample = replace(sample, young_gc=young.young, young_gc_ms=young.young_cpu_seconds * 1000)
    verdicts = judge_latencies(arm)[judged:]
    if verdicts:
        sample = replace(sample, judge_p50_ms=statistics.median(verdicts))
    return sample
