"""Talking to `/v1/responses` through the real proxies: the plugin's (`messages_proxy`, the same proxy the
`/v1/messages` tests use) and a stock LiteLLM in front of the same fake, for byte-for-byte comparisons.

Import the fixtures by name in a test module (`from tests.e2e.responses_proxy import stock_proxy`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import httpx2
import openai
import pytest
import yaml
from openai.types.responses import Response

from luthien_litellm_plugin.streaming.responses_validator import validate_responses_stream
from luthien_litellm_plugin.types import JSONObject
from tests.e2e.conftest import model_list, start_proxy, stop_proxy
from tests.e2e.messages_proxy import MessagesProxy, Served, TeeTransport
from tests.fakes.server import FakeUpstream
from tests.responses_streams import accumulate

TOOLS: list[dict[str, object]] = [
    {"type": "function", "name": name, "description": f"the {name} tool", "parameters": {"type": "object"}}
    for name in ("get_weather", "bash", "get_time")
]
PATHS = ("/v1/responses", "/responses", "/openai/v1/responses")
"""The routes LiteLLM serves the Responses API on."""


@dataclass
class StockProxy:
    """Stock LiteLLM (no callbacks) with the same model list, in front of the same fake."""

    base_url: str
    master_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.master_key}"}


@pytest.fixture(scope="session")
def stock_proxy(messages_fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StockProxy]:
    directory = tmp_path_factory.mktemp("stock_proxy")
    config = directory / "litellm_config.yaml"
    settings = {"num_retries": 0, "request_timeout": 30}
    router = {"num_retries": 0, "disable_cooldowns": True}
    config.write_text(
        yaml.safe_dump(
            {"model_list": model_list(messages_fake), "litellm_settings": settings, "router_settings": router}
        )
    )
    process, base_url, master_key = start_proxy(config, directory / "events.jsonl", directory / "proxy.log")
    try:
        yield StockProxy(base_url, master_key)
    finally:
        stop_proxy(process)


def responses_body(model: str, text: str, *, stream: bool, tools: bool = True) -> dict[str, object]:
    body: dict[str, object] = {"model": model, "input": text, "stream": stream}
    if tools:
        body["tools"] = TOOLS
    return body


def post_responses(proxy: MessagesProxy | StockProxy, body: dict[str, object], path: str = "/v1/responses") -> Served:
    """POST a Responses request and read the whole response body as bytes (streamed or not)."""
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{proxy.base_url}{path}", headers=proxy.headers, json=body) as response,
    ):
        return Served(response.status_code, response.headers, b"".join(response.iter_raw()))


def events_of(body: bytes) -> list[JSONObject]:
    """The events of a served Responses stream (LiteLLM writes `data:` lines only, then `data: [DONE]`)."""
    frames = [frame for frame in body.decode().split("\n\n") if frame]
    assert frames and frames[-1] == "data: [DONE]", frames[-1:]
    events: list[JSONObject] = []
    for frame in frames[:-1]:
        assert frame.startswith("data: ") and "\n" not in frame, frame
        event = json.loads(frame[len("data: ") :])
        assert isinstance(event, dict)
        events.append(event)
    return events


def valid_events(body: bytes) -> list[JSONObject]:
    """The events of a served stream, checked against the Responses wire rules."""
    events = events_of(body)
    assert validate_responses_stream(events) == []
    return events


def final_response(body: bytes) -> Response:
    """What the openai SDK's stream accumulator makes of a served stream (which must be valid)."""
    return accumulate(valid_events(body))


@contextmanager
def sdk_client(proxy: MessagesProxy) -> Iterator[tuple[openai.OpenAI, TeeTransport]]:
    """The official openai SDK pointed at the proxy, and the transport that sees its raw bytes."""
    tee = TeeTransport()
    with httpx2.Client(transport=tee, timeout=30) as http:
        client = openai.OpenAI(
            base_url=f"{proxy.base_url}/v1", api_key=proxy.master_key, max_retries=0, http_client=http
        )
        yield client, tee
