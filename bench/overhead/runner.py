"""Interleaved rounds: each round measures every workload on every arm, the arms in a new order.

A round of one workload is a `Block`: the arms measured back to back, so the ratios within it are
paired. A block during which other tenants used more than `foreign_limit` of a core is measured
again, once.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.overhead import load
from bench.overhead.arms import Arm
from bench.overhead.gclog import GcLog
from bench.overhead.processes import Proxy
from bench.overhead.requests import Call
from bench.overhead.stats import order
from bench.overhead.workloads import Sample, Workload, fire, measure


@dataclass(frozen=True)
class Block:
    """One round of one workload: a sample per arm, and the foreign load meanwhile."""

    round: int
    workload: str
    order: list[str]
    samples: dict[str, Sample]
    foreign_cores: float
    flagged: bool  # foreign load above the limit, even after measuring again
    remeasured: bool


@dataclass
class Runner:
    """The arms, their running proxies and GC logs, and how much to send."""

    arms: Sequence[Arm]
    proxies: Mapping[str, Proxy]  # by `Arm.process`
    gc_logs: Mapping[str, GcLog]  # by `Arm.process`
    key: str
    base_requests: int
    foreign_limit: float = 0.10

    def call(self, arm: Arm, workload: Workload) -> Call:
        return Call(
            self.proxies[arm.process].url, self.key, arm, workload.stream, workload.chunks, workload.conversation
        )

    async def warm_up(self, workloads: Sequence[Workload]) -> None:
        """A few of each workload's requests on each arm, unmeasured."""
        for workload in workloads:
            count = max(2 * workload.concurrency, workload.requests(self.base_requests) // 5)
            for arm in self.arms:
                if workload.takes_part(arm):
                    await fire(self.call(arm, workload), workload.endpoint, workload.concurrency, count)
        log("warmed up")

    async def block(self, workload: Workload, round_number: int) -> tuple[list[str], dict[str, Sample], float]:
        names = order([a.name for a in self.arms if workload.takes_part(a)], round_number)
        by_name = {a.name: a for a in self.arms}
        samples: dict[str, Sample] = {}
        before = load.read()
        for name in names:
            arm = by_name[name]
            proxy = self.proxies[arm.process]
            requests = workload.requests(self.base_requests)
            gc = self.gc_logs[arm.process]
            samples[name] = await measure(workload, arm, self.call(arm, workload), proxy.pid, gc, requests)
        return names, samples, load.between(before, load.read())

    async def run(self, workloads: Sequence[Workload], rounds: int) -> list[Block]:
        await self.warm_up(workloads)
        blocks: list[Block] = []
        for round_number in range(rounds):
            for workload in workloads:
                names, samples, foreign = await self.block(workload, round_number)
                remeasured = foreign > self.foreign_limit
                if remeasured:
                    log(f"  {workload.name}: foreign load {foreign:.2f} cores, measuring the round again")
                    names, samples, foreign = await self.block(workload, round_number)
                flagged = foreign > self.foreign_limit
                blocks.append(Block(round_number, workload.name, names, samples, foreign, flagged, remeasured))
                log(progress(blocks[-1]))
            log(f"round {round_number + 1}/{rounds} done")
        return blocks


def progress(block: Block) -> str:
    """One line per block: rps and CPU/req of each arm, the foreign load."""
    parts = [f"{n} {s.rps:.1f} rps {s.cpu_ms:.1f} ms" for n, s in block.samples.items()]
    flag = " FOREIGN LOAD" if block.flagged else ""
    return f"  r{block.round + 1} {block.workload}: {'; '.join(parts)}; foreign {block.foreign_cores:.2f}{flag}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
