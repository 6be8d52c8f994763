"""Two proxy workers, 50 concurrent mixed requests: no cross-talk, each transaction recorded once.

Which worker serves which request is up to the OS (one worker may take them all): the test
asserts only what the product promises, whichever worker served.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from luthien_litellm_plugin.storage.jsonl import read_events
from tests.e2e.conftest import Proxy, running_proxy, write_config
from tests.fakes.upstream import LEAD_IN, TEXT, Upstream

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_workers(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    directory = tmp_path_factory.mktemp("workers")
    config = directory / "litellm_config.yaml"
    write_config(config, upstream)
    # uvicorn kills a worker that does not answer its health check within 5 s (its default), and a
    # loaded 2-core machine can take longer than that to import LiteLLM in a fresh worker: without a
    # longer limit the workers are killed and restarted forever and the proxy never becomes ready.
    workers = ("--num_workers", "2", "--timeout_worker_healthcheck", "120")
    with running_proxy(config, upstream, directory / "events-{pid}.jsonl", workers) as proxy:
        yield proxy


async def one(client: httpx.AsyncClient, proxy: Proxy, index: int) -> tuple[str, str, str]:
    policy = ["passthrough", "all_caps", "string_replacement", "block_tools"][index % 4]
    backend = ["openai", "anthropic"][index // 4 % 2]
    scenario = "tool_calls" if index % 3 == 0 else "text"
    body = {
        "model": f"{backend}-{policy}",
        "messages": [{"role": "user", "content": f"echo:req{index} scenario:{scenario}"}],
        "stream": index % 2 == 0,
    }
    expected = {
        "passthrough": str,
        "all_caps": str.upper,
        "string_replacement": lambda t: t.replace("fake", "real").replace("check", "verify"),
        "block_tools": str,
    }[policy]
    base = (LEAD_IN if scenario == "tool_calls" else TEXT) + f" [req{index}]"
    if body["stream"]:
        text = ""
        async with client.stream(
            "POST", f"{proxy.base_url}/v1/chat/completions", headers=proxy.headers, json=body
        ) as response:
            transaction_id = response.headers["x-luthien-transaction-id"]
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    text += json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
    else:
        response = await client.post(f"{proxy.base_url}/v1/chat/completions", headers=proxy.headers, json=body)
        transaction_id = response.headers["x-luthien-transaction-id"]
        text = response.json()["choices"][0]["message"]["content"] or ""
    return transaction_id, text, expected(base)


def test_fifty_concurrent_requests_over_two_workers(two_workers: Proxy) -> None:
    async def run() -> list[tuple[str, str, str]]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(one(client, two_workers, i) for i in range(50)))

    results = asyncio.run(run())
    for transaction_id, text, expected in results:
        assert text.startswith(expected), (transaction_id, text, expected)
    ids = [transaction_id for transaction_id, _, _ in results]
    assert len(set(ids)) == 50
    for transaction_id in ids:
        two_workers.events(transaction_id)  # waits until recorded
    all_events = read_events(two_workers.events_file)  # every worker's file
    completions = Counter(e["transaction_id"] for e in all_events if e["event_type"] == "transaction.completed")
    assert all(completions[i] == 1 for i in ids)
    rows = [two_workers.transaction_row(transaction_id) for transaction_id in ids]  # one shared SQLite file
    assert all(row["status"] == "success" for row in rows)
    for index, row in enumerate(rows):  # each record holds its own request, not a neighbour's
        assert f"echo:req{index} " in str(row["original_request"]), (index, row["original_request"])
    with sqlite3.connect(two_workers.database) as db:
        counts = db.execute("SELECT count(*), count(DISTINCT transaction_id) FROM transactions").fetchone()
        completed_events = db.execute(
            "SELECT count(*) FROM events WHERE event_type = 'transaction.completed'"
        ).fetchone()
    assert counts == (50, 50) and completed_events == (50,)
