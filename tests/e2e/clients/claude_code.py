"""Running Claude Code headless (`claude -p --output-format stream-json`) against a proxy.

Each run gets a throwaway HOME, config and temp folder (nothing of the machine's own Claude
Code setup leaks in), the proxy's master key as its API key, and no non-essential traffic.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests.e2e.conftest import Proxy

RUN_TIMEOUT_SECONDS = 180
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
"""Enough for the shell its Bash tool starts (`echo`, `tee`); nothing of the test's own environment."""


@dataclass
class ClaudeRun:
    """One finished `claude -p` session: exit code, the stream-json events it printed, its stderr."""

    returncode: int
    events: list[dict[str, object]]
    stderr: str

    @property
    def result(self) -> dict[str, object]:
        """The closing `result` event."""
        [result] = [event for event in self.events if event.get("type") == "result"]
        return result

    @property
    def assistant_blocks(self) -> list[dict[str, object]]:
        """The content blocks of every assistant message Claude Code received, in order."""
        blocks: list[dict[str, object]] = []
        for event in self.events:
            message = event.get("message") if event.get("type") == "assistant" else None
            content = message.get("content") if isinstance(message, dict) else None
            blocks += [block for block in content or [] if isinstance(block, dict)]
        return blocks

    def describe(self) -> str:
        return f"exit {self.returncode}; events: {json.dumps(self.events)[-3000:]}; stderr: {self.stderr[-2000:]}"


class ClaudeCode:
    """The pinned `claude` executable, pointed at a proxy, run in `workdir`."""

    def __init__(self, binary: Path, proxy: Proxy, root: Path) -> None:
        self.binary = binary
        self.proxy = proxy
        self.root = root

    def environment(self, home: Path) -> dict[str, str]:
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        return {
            "PATH": SYSTEM_PATH,
            "HOME": str(home),
            "CLAUDE_CONFIG_DIR": str(home / ".claude"),
            "TMPDIR": str(home / "tmp"),
            "LANG": "C.UTF-8",
            "ANTHROPIC_BASE_URL": self.proxy.base_url,
            "ANTHROPIC_API_KEY": self.proxy.master_key,
            # Also turns off the auto-updater, error reporting, telemetry and the bug command.
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
        }

    def command(self, model: str, prompt: str, *extra: str) -> list[str]:
        return [
            str(self.binary),
            "-p",
            prompt,
            "--output-format",
            "stream-json",
            "--verbose",
            "--model",
            model,
            "--allowedTools",
            "Bash",
            *extra,
        ]

    def session_dirs(self, name: str) -> tuple[Path, Path]:
        """(workdir, home) of a new session: empty folders under the test's root."""
        workdir, home = self.root / name / "work", self.root / name / "home"
        workdir.mkdir(parents=True)
        home.mkdir(parents=True)
        return workdir, home

    def run(
        self, name: str, model: str, prompt: str, prepare: Callable[[Path], None] | None = None
    ) -> tuple[ClaudeRun, Path]:
        """Run one headless session to its end (after `prepare(workdir)`); the run and its working directory."""
        workdir, home = self.session_dirs(name)
        if prepare is not None:
            prepare(workdir)
        with self.started(workdir, home, model, prompt) as process:
            assert process.stdout is not None and process.stderr is not None
            try:
                out, err = process.communicate(timeout=RUN_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"claude did not finish in {RUN_TIMEOUT_SECONDS}s") from None
        return ClaudeRun(process.returncode, _events(out), err), workdir

    @contextmanager
    def started(
        self, workdir: Path, home: Path, model: str, prompt: str, *extra: str
    ) -> Iterator[subprocess.Popen[str]]:
        """A running `claude` process (its own process group); whatever is left of it is killed at exit."""
        process = subprocess.Popen(
            self.command(model, prompt, *extra),
            cwd=workdir,
            env=self.environment(home),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the group is the session this test started
            process.wait()


def _events(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def read_until(stream: IO[str], wanted: str, timeout: float) -> list[dict[str, object]]:
    """Read stream-json lines until a `stream_event` carries a delta of type `wanted` (e.g. `text_delta`).

    A thread reads the pipe (to its end), so a silent client fails the test at `timeout` instead of
    blocking it.
    """
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="claude-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    seen: list[dict[str, object]] = []
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:
            break
        if not line.strip():
            continue
        event = json.loads(line)
        seen.append(event)
        inner = event.get("event") if event.get("type") == "stream_event" else None
        delta = inner.get("delta") if isinstance(inner, dict) else None
        if isinstance(delta, dict) and delta.get("type") == wanted:
            return seen
    raise AssertionError(f"no {wanted} arrived within {timeout}s: {json.dumps(seen)[-2000:]}")
