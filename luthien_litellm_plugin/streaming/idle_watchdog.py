"""Fires a callback when nothing has happened for `timeout_seconds` (one timer, no polling)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class IdleWatchdog:
    """`keepalive()` pushes the deadline back; `on_idle` runs once if the deadline passes."""

    def __init__(self, timeout_seconds: float, on_idle: Callable[[], None]) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self._timeout = timeout_seconds
        self._on_idle = on_idle
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + timeout_seconds
        self._timer: asyncio.TimerHandle | None = self._loop.call_at(self._deadline, self._check)

    def keepalive(self) -> None:
        self._deadline = self._loop.time() + self._timeout

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        if self._loop.time() >= self._deadline:
            self._timer = None
            self._on_idle()
        else:
            self._timer = self._loop.call_at(self._deadline, self._check)
