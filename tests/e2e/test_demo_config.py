"""The repository's own litellm_config.yaml runs with no API keys and shows the demo policy."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import REPO, Proxy, completed, running_proxy
from tests.fakes.upstream import Upstream

pytestmark = pytest.mark.e2e
DEMO_TEXT = "Hello from the luthien demo model! This text is written in lower case by the model."


@pytest.fixture(scope="module")
def demo(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    directory = tmp_path_factory.mktemp("demo")
    with running_proxy(REPO / "litellm_config.yaml", upstream, directory / "events.jsonl") as proxy:
        yield proxy


def test_the_recording_schema_is_applied_at_start_before_any_request(demo: Proxy) -> None:
    deadline = time.monotonic() + 15
    tables: set[str] = set()
    while not {"transactions", "events", "schema_migrations"} <= tables and time.monotonic() < deadline:
        if demo.database.exists():
            with sqlite3.connect(demo.database) as db:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        time.sleep(0.05)  # the proxy migrates in the background of its startup; bounded by the deadline
    assert {"transactions", "events", "schema_migrations"} <= tables
    with sqlite3.connect(demo.database) as db:
        assert db.execute("SELECT count(*) FROM transactions").fetchone() == (0,)


@pytest.mark.parametrize(("model", "expected"), [("demo", DEMO_TEXT.upper()), ("demo-passthrough", DEMO_TEXT)])
def test_demo_models(demo: Proxy, model: str, expected: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{demo.base_url}/v1/chat/completions", headers=demo.headers, json=body, timeout=30)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == expected
    assert completed(demo.events(response.headers["x-luthien-transaction-id"]))["status"] == "success"
