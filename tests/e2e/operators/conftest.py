"""Real proxies with the plugin and its viewer, in front of the fake upstream, after a scripted mix
of transactions: one on SQLite (the default), two replicas sharing Postgres and Redis."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import REPO, start_proxy, stop_proxy
from tests.e2e.operators.traffic import KINDS, send_mix, write_viewer_config
from tests.fakes.server import FakeUpstream
from tests.integration.conftest import postgres_database, require_service  # noqa: F401 - fixture for replicas

SQLITE_REDIS_URL = "redis://127.0.0.1:6379/6"
"""Redis database of the SQLite viewer proxy's live feed (other e2e proxies publish into db 3)."""
REPLICAS_REDIS_URL = "redis://127.0.0.1:6379/7"
ARTIFACTS = REPO / "artifacts"
FINISHED = ("success", "blocked", "error", "cancelled", "timeout")


@dataclass
class ViewerProxy:
    """A running proxy, its database, and the transactions of the scripted mix by kind."""

    base_url: str
    master_key: str
    directory: Path
    redis_url: str
    database_url: str
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def viewer(self) -> str:
        return f"{self.base_url}/luthien"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.master_key}"}

    def api(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(f"{self.viewer}/api/{path}", params=params, headers=self.headers, timeout=30)

    def wait_for_announcement(self, cursor: str, transaction_id: str, timeout: float = 30.0) -> None:
        """Poll `api/changes` from `cursor` until it names `transaction_id` as finished."""
        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        while transaction_id not in seen:
            assert time.monotonic() < deadline, f"{self.base_url}'s feed never named {transaction_id}"
            answer = self.api("changes", cursor=cursor).json()
            cursor = answer["cursor"]
            seen |= {t["transaction_id"] for t in answer["transactions"] if t["status"] in FINISHED}

    def find(self, text: str, timeout: float = 30.0) -> dict[str, object]:
        """The one finished transaction whose request or response contains `text` (found through the API)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.api("transactions", q=text).json()["transactions"]
            if len(rows) == 1 and rows[0]["status"] in FINISHED:
                return dict(rows[0])
            if time.monotonic() > deadline:
                raise AssertionError(f"no single finished transaction matches {text!r}: {rows}")
            time.sleep(0.1)  # the proxy's writer flushes on its own schedule; bounded by the deadline


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream.running() as upstream:
        yield upstream


def _start(
    directory: Path, upstream: FakeUpstream, env: dict[str, str], master_key: str
) -> tuple[subprocess.Popen[bytes], str]:
    config = directory / "litellm_config.yaml"
    if not config.exists():
        write_viewer_config(config, upstream)
    process, base_url, _ = start_proxy(
        config,
        directory / "events.jsonl",
        directory / "proxy.log",
        extra_env={"LITELLM_MASTER_KEY": master_key, "LUTHIEN_SPOOL_DIR": str(directory / "spool"), **env},
    )
    return process, base_url


def _with_mix(proxy: ViewerProxy) -> ViewerProxy:
    tag = f"mix{secrets.token_hex(3)}"
    markers = send_mix(proxy.base_url, proxy.master_key, tag)
    proxy.ids = {kind: str(proxy.find(markers[kind])["transaction_id"]) for kind in KINDS}
    return proxy


@pytest.fixture(scope="session")
def viewer_proxy(fake_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ViewerProxy]:
    """The SQLite default, with the Redis live feed."""
    require_service("Redis", "127.0.0.1", 6379)
    directory = tmp_path_factory.mktemp("viewer")
    key = f"sk-test-{secrets.token_hex(12)}"
    database_url = f"sqlite:///{directory / 'luthien.db'}"
    process, base_url = _start(
        directory, fake_upstream, {"LUTHIEN_REDIS_URL": SQLITE_REDIS_URL, "LUTHIEN_DATABASE_URL": database_url}, key
    )
    try:
        yield _with_mix(ViewerProxy(base_url, key, directory, SQLITE_REDIS_URL, database_url))
    finally:
        stop_proxy(process)


@pytest.fixture(scope="session")
def replicas(
    fake_upstream: FakeUpstream,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: str,  # noqa: F811
) -> Iterator[tuple[ViewerProxy, ViewerProxy]]:
    """Two proxies sharing one master key, one Postgres database and one Redis, as in docker/compose.yaml."""
    require_service("Redis", "127.0.0.1", 6379)
    key = f"sk-test-{secrets.token_hex(12)}"
    env = {"LUTHIEN_DATABASE_URL": postgres_database, "LUTHIEN_REDIS_URL": REPLICAS_REDIS_URL}
    first_dir, second_dir = tmp_path_factory.mktemp("replica1"), tmp_path_factory.mktemp("replica2")
    first, first_url = _start(first_dir, fake_upstream, env, key)
    try:
        second, second_url = _start(second_dir, fake_upstream, env, key)
        try:
            one = _with_mix(ViewerProxy(first_url, key, first_dir, REPLICAS_REDIS_URL, postgres_database))
            two = ViewerProxy(second_url, key, second_dir, REPLICAS_REDIS_URL, postgres_database, dict(one.ids))
            yield one, two
        finally:
            stop_proxy(second)
    finally:
        stop_proxy(first)


def cli_environment(**overrides: str) -> dict[str, str]:
    """The environment for `luthien` subprocesses: no LUTHIEN_* settings from outside the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUTHIEN_")}
    env.update({"PYTHONPATH": str(REPO), "LITELLM_LOCAL_MODEL_COST_MAP": "True", "NO_COLOR": "1", **overrides})
    return env
