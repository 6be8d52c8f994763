"""E2E: the real `litellm --config` process with the plugin, in front of the fake upstream."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from luthien_litellm_plugin.storage.jsonl import read_events
from tests.fakes.server import FakeUpstream
from tests.fakes.upstream import Upstream, free_port, running_upstream

REPO = Path(__file__).resolve().parents[2]
BACKENDS = ("openai", "anthropic")
POLICIES: dict[str, dict[str, object]] = {
    "passthrough": {"class": "passthrough"},
    "all_caps": {"class": "all_caps"},
    "block_tools": {"class": "block_tools", "options": {"tools": ["bash"]}},
    "block_rm": {"class": "block_tools", "options": {"arguments_pattern": "rm -rf"}},
    "string_replacement": {
        "class": "string_replacement",
        "options": {"replacements": [{"from": "fake", "to": "real"}, {"from": "check", "to": "verify"}]},
    },
    "block_request": {"class": "tests.e2e.policies:BlockForbiddenRequests"},
    "block_at_finish": {"class": "tests.e2e.policies:BlockAtFinish"},
    "broken": {"class": "tests.e2e.policies:Broken"},
    "report_open": {"class": "tests.e2e.policies:ReportOpenState"},
}
STARTUP_SECONDS = 120
E2E_REDIS_URL = "redis://127.0.0.1:6379/3"  # a database of its own: e2e proxies publish their live feed here


@dataclass
class Proxy:
    base_url: str
    master_key: str
    events_file: Path
    upstream: Upstream | FakeUpstream
    log: Path

    @property
    def database(self) -> Path:
        return self.events_file.parent / "luthien.db"

    def transaction_row(self, transaction_id: str, timeout: float = 15.0) -> dict[str, object]:
        """The transaction's row in the proxy's SQLite database, once it has a terminal status."""
        deadline = time.monotonic() + timeout
        while True:
            row = self._read_row(transaction_id)
            if row is not None and row["status"] != "started":
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f"transaction {transaction_id} has no finished row in {self.database}")
            time.sleep(0.05)  # the proxy's writer flushes on its own schedule; bounded by the deadline

    def _read_row(self, transaction_id: str) -> dict[str, object] | None:
        if not self.database.exists():
            return None
        with sqlite3.connect(self.database) as db:
            db.row_factory = sqlite3.Row
            try:
                row = db.execute("SELECT * FROM transactions WHERE transaction_id = ?", (transaction_id,)).fetchone()
            except sqlite3.OperationalError:  # the proxy has not applied its migrations yet
                return None
        return dict(row) if row is not None else None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.master_key}"}

    def events(self, transaction_id: str, timeout: float = 15.0) -> list[dict[str, object]]:
        """This transaction's recorded events, once its terminal event is written."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in _read(self.events_file) if e["transaction_id"] == transaction_id]
            if any(e["event_type"] == "transaction.completed" for e in found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"transaction {transaction_id} not recorded as completed: {found}")
            time.sleep(0.05)  # the proxy writes on its own schedule; bounded by the deadline


def _read(path: Path) -> list[dict[str, object]]:
    return read_events(path)


def completed(events: list[dict[str, object]]) -> dict[str, object]:
    [event] = [e for e in events if e["event_type"] == "transaction.completed"]
    payload = event["payload"]
    assert isinstance(payload, dict)
    return payload


def model_list(upstream: Upstream | FakeUpstream, policies: Iterable[str] = POLICIES) -> list[dict[str, object]]:
    """`openai-<policy>` and `anthropic-<policy>` groups for every policy in `policies`, on `upstream`."""
    models: list[dict[str, object]] = []
    for policy in policies:
        models.append(
            {
                "model_name": f"openai-{policy}",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": f"{upstream.base_url}/v1",
                    "api_key": "sk-upstream-secret",
                },
                "model_info": {"luthien_policy": policy},
            }
        )
        models.append(
            {
                "model_name": f"anthropic-{policy}",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-5",
                    "api_base": upstream.base_url,
                    "api_key": "sk-upstream-secret",
                },
                "model_info": {"luthien_policy": policy},
            }
        )
    return models


def write_config(path: Path, upstream: Upstream) -> None:
    write_proxy_config(path, model_list(upstream))


def write_proxy_config(
    path: Path,
    models: list[dict[str, object]],
    policies: dict[str, dict[str, object]] = POLICIES,
    settings: dict[str, object] | None = None,
) -> None:
    """A proxy config with the plugin, `policies`, no retries and a 2 s idle timeout (`settings` adds to
    or overrides `callback_settings.luthien`)."""
    luthien = {"default_policy": "passthrough", "policies": policies, "stream_idle_timeout_seconds": 2}
    luthien.update(settings or {})
    config = {
        "model_list": models,
        "litellm_settings": {"callbacks": ["luthien_litellm_plugin.callback"], "num_retries": 0, "request_timeout": 30},
        "router_settings": {"num_retries": 0, "disable_cooldowns": True},
        "callback_settings": {"luthien": luthien},
    }
    path.write_text(yaml.safe_dump(config))


def start_proxy(
    config: Path,
    events_file: Path,
    log: Path,
    extra_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str, str]:
    """Start `litellm --config` on a free 127.0.0.1 port; returns (process, base url, master key)."""
    port = free_port()
    master_key = f"sk-test-{secrets.token_hex(12)}"
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LUTHIEN_EVENTS_FILE": str(events_file),
        "LUTHIEN_DATABASE_URL": f"sqlite:///{events_file.parent / 'luthien.db'}",
        "LUTHIEN_SPOOL_DIR": str(events_file.parent / "spool"),
        "LUTHIEN_REDIS_URL": E2E_REDIS_URL,
        "PYTHONPATH": str(REPO),
        "PYTHONFAULTHANDLER": "1",  # a crash of the proxy process leaves its Python stacks in the log
        **(extra_env or {}),
    }
    env.pop("DATABASE_URL", None)
    command = [
        str(Path(sys.executable).parent / "litellm"),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *extra_args,
    ]
    with log.open("wb") as output:
        # A session of its own: its workers can be stopped with it, even after a SIGKILL of the parent.
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=str(config.parent), start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"litellm exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base_url}/health/liveliness", timeout=1).status_code == 200:
                return process, base_url, master_key
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            kill_proxy(process)
            raise RuntimeError(f"litellm did not become ready in {STARTUP_SECONDS}s:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)  # waiting for another process to listen; bounded by the deadline


def stop_proxy(process: subprocess.Popen[bytes]) -> None:
    """Stop the proxy (SIGTERM: its workers drain), then make sure nothing of it is left running."""
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    kill_proxy(process)


def kill_proxy(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the proxy and every process it started (its session: workers included)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextmanager
def running_proxy(
    config: Path, upstream: Upstream, events_file: Path, extra_args: tuple[str, ...] = ()
) -> Iterator[Proxy]:
    """A started proxy for `config`, stopped when the block exits (log next to the events)."""
    log = events_file.parent / "proxy.log"
    process, base_url, master_key = start_proxy(config, events_file, log, extra_args)
    try:
        yield Proxy(base_url, master_key, events_file, upstream, log)
    finally:
        stop_proxy(process)


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    with running_upstream() as server:
        yield server


@pytest.fixture(scope="session")
def proxy(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    directory = tmp_path_factory.mktemp("proxy")
    config = directory / "litellm_config.yaml"
    write_config(config, upstream)
    with running_proxy(config, upstream, directory / "events.jsonl") as proxy:
        yield proxy


PLAN_POLICIES: dict[str, dict[str, object]] = {
    "uppercase": {"class": "all_caps"},
    "passthrough": {"class": "passthrough"},
}


def provider_params(backend: str, upstream: Upstream) -> dict[str, object]:
    """Real provider when its API key is set (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`), else the fake."""
    if backend == "openai":
        if os.environ.get("OPENAI_API_KEY"):
            return {"model": "openai/gpt-4o-mini", "api_key": "os.environ/OPENAI_API_KEY"}
        return {"model": "openai/gpt-4o", "api_base": f"{upstream.base_url}/v1", "api_key": "sk-upstream-secret"}
    if os.environ.get("ANTHROPIC_API_KEY"):
        return {"model": "anthropic/claude-haiku-4-5", "api_key": "os.environ/ANTHROPIC_API_KEY"}
    return {"model": "anthropic/claude-sonnet-4-5", "api_base": upstream.base_url, "api_key": "sk-upstream-secret"}


@pytest.fixture(scope="session")
def plan_proxy(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """The plan's e2e proxy: `<backend>-<policy>` groups on real providers when keys are set."""
    directory = tmp_path_factory.mktemp("plan")
    models = [
        {
            "model_name": f"{backend}-{policy}",
            "litellm_params": provider_params(backend, upstream),
            "model_info": {"luthien_policy": policy},
        }
        for backend in BACKENDS
        for policy in PLAN_POLICIES
    ]
    config = directory / "litellm_config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": models,
                "litellm_settings": {"callbacks": ["luthien_litellm_plugin.callback"], "num_retries": 0},
                "router_settings": {"num_retries": 0, "disable_cooldowns": True},
                "callback_settings": {"luthien": {"policies": PLAN_POLICIES}},
            }
        )
    )
    with running_proxy(config, upstream, directory / "events.jsonl") as proxy:
        yield proxy
