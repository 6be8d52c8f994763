"""Proxy processes: starting them (pinned to a CPU), waiting for them, their CPU time from `/proc`."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

TICKS = os.sysconf("SC_CLK_TCK")
PROXY_CPUS = frozenset({0})
BENCH_CPUS = frozenset({1})
"""The load generator and the fake upstreams; the proxies get `PROXY_CPUS`."""


@dataclass(frozen=True)
class Stat:
    """What `/proc/PID/stat` says about one process: its parent and its CPU jiffies, reaped children included."""

    ppid: int
    jiffies: int


def parse_stat(text: str) -> Stat:
    """`/proc/PID/stat`: ppid, and utime + stime + cutime + cstime."""
    fields = text.rsplit(")", 1)[1].split()
    return Stat(int(fields[1]), sum(int(f) for f in fields[11:15]))


def process_table() -> dict[int, Stat]:
    """Every process's `Stat`, by pid (processes that exit while read are left out)."""
    table: dict[int, Stat] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                table[int(entry.name)] = parse_stat(Path(entry.path, "stat").read_text())
            except (FileNotFoundError, ProcessLookupError):
                continue
    return table


def tree_total(root: int, table: Mapping[int, Stat]) -> int:
    """Jiffies of `root` and all its descendants in `table`."""
    children: dict[int, list[int]] = {}
    for pid, stat in table.items():
        children.setdefault(stat.ppid, []).append(pid)
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        if pid in table:
            total += table[pid].jiffies
        pending.extend(children.get(pid, ()))
    return total


def tree_jiffies(root: int) -> int:
    """CPU jiffies of a whole process tree, now."""
    return tree_total(root, process_table())


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of a whole process tree, now."""
    return tree_jiffies(root) / TICKS


def pin_to(cpus: Iterable[int]) -> Callable[[], None]:
    """A `preexec_fn` pinning the child to `cpus`."""
    chosen = set(cpus)

    def pin() -> None:
        os.sched_setaffinity(0, chosen)

    return pin


def check_cpus() -> None:
    """Pinning needs CPUs 0 and 1 to be ours."""
    available = os.sched_getaffinity(0)
    if not available.issuperset(PROXY_CPUS | BENCH_CPUS):
        raise SystemExit(f"pinning needs CPUs 0 and 1, this process may use {sorted(available)}: use --no-pin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proxy:
    """A running `litellm` process."""

    process: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid


def start(
    command: list[str], env: Mapping[str, str], log: Path, cwd: Path, cpus: frozenset[int] | None
) -> subprocess.Popen[bytes]:
    """Start `command`, output to `log`, pinned to `cpus` (None: not pinned)."""
    with log.open("wb") as output:
        return subprocess.Popen(
            command,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            preexec_fn=pin_to(cpus) if cpus is not None else None,
        )


def wait_ready(url: str, process: subprocess.Popen[bytes], method: str = "GET", timeout: float = 180) -> None:
    """Poll `url` until it answers below 500; fail if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {process.returncode}")
        try:
            if httpx.request(method, url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate, and kill if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
