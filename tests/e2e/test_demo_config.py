"""The repository's own litellm_config.yaml runs with no API keys and shows the demo policy."""

from __future__ import annotations

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


@pytest.mark.parametrize(("model", "expected"), [("demo", DEMO_TEXT.upper()), ("demo-passthrough", DEMO_TEXT)])
def test_demo_models(demo: Proxy, model: str, expected: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{demo.base_url}/v1/chat/completions", headers=demo.headers, json=body, timeout=30)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == expected
    assert completed(demo.events(response.headers["x-luthien-transaction-id"]))["status"] == "success"
