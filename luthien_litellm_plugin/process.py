"""Which process opened a transaction: recorded with it, so a later start can close what a dead
process left open."""

from __future__ import annotations

import os

_identity: tuple[int, str] | None = None


def process_id() -> str:
    """This process's identity, `<pid>-<16 hex>`: stable for its life, unique across restarts and
    pid reuse (a forked child gets its own)."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:
        _identity = (pid, f"{pid}-{os.urandom(8).hex()}")
    return _identity[1]
