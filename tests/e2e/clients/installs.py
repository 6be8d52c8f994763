"""The real clients the e2e suite drives, installed from their registries at pinned versions.

Claude Code comes from npm into a cache folder outside the repository (`npm install --prefix`),
once per version; openai-agents is a pinned test extra (pyproject). A client that cannot be had
skips its tests locally and fails them under `CI=true`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

CLAUDE_CODE_PACKAGE = "@anthropic-ai/claude-code"
CLAUDE_CODE_VERSION = "2.1.332"
INSTALL_TIMEOUT_SECONDS = 600


def unavailable(message: str) -> NoReturn:
    """Skip (locally) or fail (CI=true): a missing client must never pass CI silently."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def clients_cache() -> Path:
    """Where installed clients are kept: `LUTHIEN_CLIENTS_CACHE`, else `~/.cache/luthien-clients`."""
    configured = os.environ.get("LUTHIEN_CLIENTS_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "luthien-clients"


def claude_code(npm: str | None = None, cache: Path | None = None) -> Path:
    """The pinned Claude Code executable, installed with npm on first use."""
    npm = npm or shutil.which("npm")
    if npm is None or not Path(npm).exists():
        unavailable(f"npm is needed to install {CLAUDE_CODE_PACKAGE}@{CLAUDE_CODE_VERSION} (Debian: npm)")
    prefix = (cache or clients_cache()) / f"claude-code-{CLAUDE_CODE_VERSION}"
    binary = prefix / "node_modules" / ".bin" / "claude"
    prefix.mkdir(parents=True, exist_ok=True)
    with (prefix / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be installing into the same folder
        if _version(binary) != CLAUDE_CODE_VERSION:
            _npm_install(npm, prefix, f"{CLAUDE_CODE_PACKAGE}@{CLAUDE_CODE_VERSION}")
    found = _version(binary)
    if found != CLAUDE_CODE_VERSION:
        unavailable(f"{binary} reports version {found!r} after installing {CLAUDE_CODE_VERSION}")
    return binary


def _npm_install(npm: str, prefix: Path, spec: str) -> None:
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--save-exact", spec]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as error:
        unavailable(f"`{' '.join(command)}` failed: {error}")
    if done.returncode != 0:
        unavailable(f"`{' '.join(command)}` exited {done.returncode}:\n{done.stderr[-2000:]}")


def _version(binary: Path) -> str | None:
    """The version `claude --version` prints (`2.1.332 (Claude Code)`), None when it does not run."""
    if not binary.exists():
        return None
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = done.stdout.split()
    return words[0] if done.returncode == 0 and words else None


def require_openai_agents() -> None:
    """The openai-agents SDK (a pinned test extra: `pip install -e '.[test]'`)."""
    try:
        import agents  # noqa: F401
    except ImportError as error:
        unavailable(f"openai-agents is not installed ({error}); run scripts/test, which installs the test extras")
