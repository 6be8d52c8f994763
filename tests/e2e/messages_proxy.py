"""One real proxy in front of the new fake upstream, for the `/v1/messages` and `/v1/responses` e2e tests.

Import the fixtures by name in a test module (`from tests.e2e.messages_proxy import messages_proxy`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx
import httpx2
import pytest
import yaml

from luthien_litellm_plugin.storage.jsonl import read_events
from tests.e2e.conftest import POLICIES, Proxy, model_list, start_proxy, stop_proxy, write_proxy_config
from tests.fakes.common import RecordedRequest, dumps
from tests.fakes.scenarios import last_user_text
from tests.fakes.server import FakeUpstream

UPSTREAM_KEY = "sk-upstream-secret"
CHAT_COMPLETIONS_FOR_MESSAGES = "LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES"
ANTHROPIC_VERSION = "2023-06-01"


@dataclass
class MessagesProxy(Proxy):
    """A `Proxy` in front of the new `FakeUpstream` (both fake OpenAI and Anthropic APIs)."""

    @property
    def fake(self) -> FakeUpstream:
        assert isinstance(self.upstream, FakeUpstream)
        return self.upstream

    @property
    def anthropic_headers(self) -> dict[str, str]:
        """Headers of a raw `/v1/messages` request, as the anthropic SDK sends them."""
        return {"x-api-key": self.master_key, "anthropic-version": ANTHROPIC_VERSION}

    def upstream_request(self, marker: str) -> RecordedRequest:
        """The one request the fake received whose last user message contains `marker`."""
        found = [r for r in self.fake.requests if marker in last_user_text(r.body)]
        assert len(found) == 1, f"expected one upstream request with {marker!r}, got {len(found)}"
        return found[0]

    def transaction_for(self, marker: str, timeout: float = 15.0) -> str:
        """The id of the one transaction whose recorded request carries `marker` (error responses have no
        `x-luthien-transaction-id` header)."""
        deadline = time.monotonic() + timeout
        while True:
            found = {
                str(e["transaction_id"])
                for e in read_events(self.events_file)
                if e["event_type"] == "transaction.request_recorded" and marker in json.dumps(e["payload"])
            }
            if found:
                assert len(found) == 1, f"several transactions carry {marker!r}: {found}"
                return found.pop()
            if time.monotonic() > deadline:
                raise AssertionError(f"no transaction recorded a request with {marker!r}")
            time.sleep(0.05)  # the proxy writes on its own schedule; bounded by the deadline

    def repeat_count(self, request: RecordedRequest) -> int:
        """How often the fake had seen this exact path + body, this one included (its id seed)."""
        requests = list(self.fake.requests)
        key = dumps([request.path, request.body])
        position = next(i for i, r in enumerate(requests) if r is request)
        return sum(1 for r in requests[: position + 1] if dumps([r.path, r.body]) == key)


@contextmanager
def running_messages_proxy(
    directory: Path,
    fake: FakeUpstream,
    policies: dict[str, dict[str, object]] = POLICIES,
    settings: dict[str, object] | None = None,
    aliases: dict[str, str] | None = None,
    extra_models: list[dict[str, object]] | None = None,
) -> Iterator[MessagesProxy]:
    """A started proxy whose `/v1/messages` on OpenAI models goes to the fake's chat/completions
    (`<backend>-<policy>` groups for each of `policies`, plus each alias: a group configured like
    the group it names, plus `extra_models`; `settings` as in `write_proxy_config`)."""
    config = directory / "litellm_config.yaml"
    models = model_list(fake, policies)
    by_name = {model["model_name"]: model for model in models}
    models += [{**by_name[target], "model_name": alias} for alias, target in (aliases or {}).items()]
    models += extra_models or []
    write_proxy_config(config, models, policies, settings)
    events_file = directory / "events.jsonl"
    log = directory / "proxy.log"
    env = {CHAT_COMPLETIONS_FOR_MESSAGES: "true"}
    process, base_url, master_key = start_proxy(config, events_file, log, extra_env=env)
    try:
        yield MessagesProxy(base_url, master_key, events_file, fake, log)
    finally:
        stop_proxy(process)


@pytest.fixture(scope="session")
def messages_fake() -> Iterator[FakeUpstream]:
    with FakeUpstream.running() as fake:
        yield fake


@pytest.fixture(scope="session")
def messages_proxy(messages_fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MessagesProxy]:
    with running_messages_proxy(tmp_path_factory.mktemp("messages_proxy"), messages_fake) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def stock_proxy(messages_fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """Stock LiteLLM (no callbacks) with the same model groups: what a client gets without the plugin."""
    directory = tmp_path_factory.mktemp("stock_proxy")
    config = directory / "litellm_config.yaml"
    settings = {"num_retries": 0, "request_timeout": 30}
    config.write_text(yaml.safe_dump({"model_list": model_list(messages_fake), "litellm_settings": settings}))
    events, log = directory / "events.jsonl", directory / "proxy.log"
    process, base_url, master_key = start_proxy(config, events, log)
    try:
        yield Proxy(base_url, master_key, events, messages_fake, log)
    finally:
        stop_proxy(process)


# ----- talking to /v1/messages -----

TOOLS: list[dict[str, object]] = [
    {"name": name, "description": f"the {name} tool", "input_schema": {"type": "object"}}
    for name in ("get_weather", "bash", "get_time")
]


def new_marker() -> str:
    """A token for the message text that finds this request again among the fake's requests."""
    return f"req:{uuid.uuid4().hex}"


def send_marked(proxy: MessagesProxy, text: str, post: Callable[[str], Served]) -> tuple[Served, str]:
    """`post` the text with a fresh marker in it; the response and its transaction's id (found by the
    marker: error responses have no `x-luthien-transaction-id` header)."""
    marker = new_marker()
    served = post(f"{text} {marker}")
    transaction_id = proxy.transaction_for(marker)
    if "x-luthien-transaction-id" in served.headers:
        assert served.headers["x-luthien-transaction-id"] == transaction_id
    return served, transaction_id


def messages_body(model: str, content: str, *, stream: bool, tools: bool = True) -> dict[str, object]:
    """A `/v1/messages` request body with one user message."""
    body: dict[str, object] = {
        "model": model,
        "max_tokens": 256,
        "stream": stream,
        "messages": [{"role": "user", "content": content}],
    }
    if tools:
        body["tools"] = TOOLS
    return body


@dataclass
class Served:
    """A raw `/v1/messages` response as the client's socket saw it."""

    status_code: int
    headers: httpx.Headers
    body: bytes

    @property
    def transaction_id(self) -> str:
        return self.headers["x-luthien-transaction-id"]

    def json(self) -> dict[str, object]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data


def post_raw(proxy: MessagesProxy, body: dict[str, object]) -> Served:
    """POST `/v1/messages` and read the whole response body as bytes (streamed or not)."""
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{proxy.base_url}/v1/messages", headers=proxy.anthropic_headers, json=body) as response,
    ):
        return Served(response.status_code, response.headers, b"".join(response.iter_raw()))


class _TeeStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, into: bytearray) -> None:
        self._inner = inner
        self._into = into

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._into.extend(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class TeeTransport(httpx2.BaseTransport):
    """An httpx2 transport (the anthropic and openai SDKs' HTTP library) keeping each response's headers
    (`headers`) and raw body bytes (`bodies`)."""

    def __init__(self) -> None:
        self._inner = httpx2.HTTPTransport()
        self.bodies: list[bytearray] = []
        self.headers: list[httpx2.Headers] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._inner.handle_request(request)
        body = bytearray()
        self.bodies.append(body)
        self.headers.append(response.headers)
        assert isinstance(response.stream, httpx2.SyncByteStream)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, body),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()


@contextmanager
def sdk_client(proxy: MessagesProxy) -> Iterator[tuple[anthropic.Anthropic, TeeTransport]]:
    """The official anthropic SDK pointed at the proxy, and the transport that sees its raw bytes."""
    tee = TeeTransport()
    with httpx2.Client(transport=tee, timeout=30) as http:
        client = anthropic.Anthropic(base_url=proxy.base_url, api_key=proxy.master_key, max_retries=0, http_client=http)
        yield client, tee


# ----- what the proxy recorded -----


def completions(events: list[dict[str, object]]) -> list[dict[str, object]]:
    """The payloads of the `transaction.completed` events."""
    found = [e["payload"] for e in events if e["event_type"] == "transaction.completed"]
    return [p for p in found if isinstance(p, dict)]


def recorded_text(response: object) -> str:
    """The assistant text of a recorded response, in OpenAI (`choices`) or Anthropic (`content`) shape."""
    assert isinstance(response, dict), response
    if "choices" in response:
        return str(response["choices"][0]["message"].get("content") or "")
    content = response.get("content")
    assert isinstance(content, list), response
    return "".join(str(block.get("text", "")) for block in content if block.get("type") == "text")


def recorded_status(proxy: MessagesProxy, transaction_id: str) -> tuple[object, object]:
    """(status, error) of the one `transaction.completed` event; the SQLite row agrees."""
    [done] = completions(proxy.events(transaction_id))
    row = proxy.transaction_row(transaction_id)
    assert (row["status"], row["error"]) == (done["status"], done["error"])
    return done["status"], done["error"]


def assert_no_secrets(proxy: MessagesProxy, recorded: object) -> None:
    text = json.dumps(recorded, default=str)
    assert UPSTREAM_KEY not in text and proxy.master_key not in text
