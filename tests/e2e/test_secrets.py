"""Client-sent secrets never reach any sink: seeded through real proxies, searched for in every store.

Two proxies cover every sink: one records to SQLite (the file and its WAL), the Redis stream and
channel and a JSON-lines file; the other to Postgres, with Redis unreachable so its events wait
in the spool. Each request carries every kind of secret a client may send, next to a harmless
marker that must be found wherever the test looks (proof the search saw the data).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
import redis

from tests.e2e.conftest import E2E_REDIS_URL, Proxy, model_list, start_proxy, stop_proxy, write_proxy_config
from tests.e2e.messages_proxy import ANTHROPIC_VERSION, MessagesProxy, messages_fake, messages_proxy
from tests.fakes.server import FakeUpstream, free_port
from tests.integration.conftest import fresh_database, require_service

pytestmark = pytest.mark.e2e
__all__ = ["messages_fake", "messages_proxy"]  # the session fixtures this module uses


@dataclass(frozen=True)
class Seeds:
    """One run's secrets (each must be absent everywhere) and its marker (present everywhere)."""

    marker: str
    body_key: str
    token_header: str
    plain_header: str
    password: str
    app_secret: str
    provider_key: str
    bearer: str
    http_header: str

    @classmethod
    def new(cls) -> Seeds:
        tag = secrets.token_hex(6)
        return cls(
            marker=f"marker-{tag}",
            body_key=f"body-key-{tag}",
            token_header=f"token-header-{tag}",
            plain_header=f"plain-header-{tag}",
            password=f"password-{tag}",
            app_secret=f"app-secret-{tag}",
            provider_key=f"sk-ant-api03-{tag}{tag}",
            bearer=f"bearertoken{tag}{tag}",
            http_header=f"http-header-{tag}",
        )

    @property
    def secrets(self) -> dict[str, str]:
        return {name: value for name, value in vars(self).items() if name != "marker"}

    def body(self, route: str, model: str, stream: bool) -> dict[str, object]:
        content = f"{self.marker} my key is {self.provider_key}, send 'Authorization: Bearer {self.bearer}'"
        body: dict[str, object] = {
            "model": model,
            "messages": [{"role": "user", "content": content}],
            "stream": stream,
            "max_tokens": 64,
            "user_api_key": self.body_key,  # a body field named like a key
            "db_password": self.password,
            "app_secret": self.app_secret,
            "extra_headers": {"X-Other-Token": self.token_header, "X-Custom-Header": self.plain_header},
        }
        if route == "chat":
            body["stream_options"] = {"include_usage": True} if stream else None
        return {key: value for key, value in body.items() if value is not None}


ROUTES = {"chat": "/v1/chat/completions", "messages": "/v1/messages"}


def send_every_kind(proxy: Proxy, seeds: Seeds, backend: str = "openai") -> list[str]:
    """Each route, streamed and not, every secret in each request; returns the transaction ids."""
    headers = {**proxy.headers, "anthropic-version": ANTHROPIC_VERSION, "X-Other-Token": seeds.http_header}
    transaction_ids = []
    with httpx.Client(timeout=30) as client:
        for route, path in ROUTES.items():
            for stream in (False, True):
                body = seeds.body(route, f"{backend}-passthrough", stream)
                with client.stream("POST", f"{proxy.base_url}{path}", headers=headers, json=body) as response:
                    assert response.status_code == 200, response.read().decode()
                    response.read()
                    transaction_ids.append(response.headers["x-luthien-transaction-id"])
    return transaction_ids


def assert_only_marker(where: str, text: str, seeds: Seeds) -> None:
    assert seeds.marker in text, f"{where}: the marker is missing, so this search proves nothing"
    leaked = [name for name, value in seeds.secrets.items() if value in text]
    assert leaked == [], f"{where} holds {leaked}"


def wait_until_recorded(proxy: Proxy, transaction_ids: list[str]) -> None:
    for transaction_id in transaction_ids:
        proxy.events(transaction_id)  # the JSON-lines copy has the terminal event


class ChannelListener:
    """Collects every message published on the Redis channel while the block runs."""

    def __init__(self, url: str, channel: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe(channel)
        self.pubsub.get_message(timeout=5)  # the subscription confirmation
        self.messages: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.1)
            if message and message["type"] == "message":
                self.messages.append(message["data"].decode())

    def __enter__(self) -> ChannelListener:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.pubsub.close()
        self.client.close()


def test_sqlite_wal_redis_stream_and_channel_and_jsonl_hold_no_client_secret(messages_proxy: MessagesProxy) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    seeds = Seeds.new()
    with ChannelListener(E2E_REDIS_URL, "luthien:events") as channel:
        transaction_ids = send_every_kind(messages_proxy, seeds)
        wait_until_recorded(messages_proxy, transaction_ids)
        deadline = time.monotonic() + 15
        while not all(any(t in m and "transaction.completed" in m for m in channel.messages) for t in transaction_ids):
            assert time.monotonic() < deadline, "the channel did not carry every transaction"
            time.sleep(0.05)  # published by the proxy's writer on its own schedule; bounded by the deadline
    assert_only_marker("Redis channel", "\n".join(channel.messages), seeds)
    client = redis.Redis.from_url(E2E_REDIS_URL)
    try:
        stream = "\n".join(fields[b"event"].decode() for _, fields in client.xrange("luthien:events"))
    finally:
        client.close()
    assert_only_marker("Redis stream", stream, seeds)
    assert_only_marker("JSON-lines file", messages_proxy.events_file.read_text(), seeds)
    for transaction_id in transaction_ids:
        assert messages_proxy.transaction_row(transaction_id)["status"] == "success"
    database = b"".join(
        path.read_bytes() for path in messages_proxy.database.parent.glob(f"{messages_proxy.database.name}*")
    )
    assert any(path.name.endswith("-wal") for path in messages_proxy.database.parent.iterdir())
    assert_only_marker("SQLite file and WAL", database.decode("utf-8", errors="replace"), seeds)
    row = messages_proxy.transaction_row(transaction_ids[1])  # streamed chat: token counts survive
    usage = json.loads(str(row["usage"]))
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert json.loads(str(row["original_request"]))["max_tokens"] == 64


@dataclass
class PostgresProxy:
    proxy: Proxy
    dsn: str


@pytest.fixture(scope="module")
def postgres_proxy(messages_fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresProxy]:
    """A proxy recording to Postgres, with Redis unreachable: its Redis events wait in the spool."""
    directory = tmp_path_factory.mktemp("postgres_proxy")
    config = directory / "litellm_config.yaml"
    write_proxy_config(config, model_list(messages_fake))
    with fresh_database() as dsn:
        env = {"LUTHIEN_DATABASE_URL": dsn, "LUTHIEN_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
        events, log = directory / "events.jsonl", directory / "proxy.log"
        process, base_url, master_key = start_proxy(config, events, log, extra_env=env)
        try:
            yield PostgresProxy(Proxy(base_url, master_key, events, messages_fake, log), dsn)
        finally:
            stop_proxy(process)


async def postgres_dump(dsn: str, transaction_ids: list[str], timeout: float = 15.0) -> str:
    """Every row of both tables as text, once each transaction's row has its terminal status."""
    connection = await asyncpg.connect(dsn)
    deadline = time.monotonic() + timeout
    try:
        while True:
            statuses = await connection.fetch(
                "SELECT status FROM luthien.transactions WHERE transaction_id = ANY($1::text[])", transaction_ids
            )
            if len(statuses) == len(transaction_ids) and all(r["status"] == "success" for r in statuses):
                break
            assert time.monotonic() < deadline, f"not all transactions reached Postgres: {statuses}"
            await asyncio.sleep(0.05)  # the proxy's writer flushes on its own schedule; bounded by the deadline
        rows = await connection.fetch("SELECT t::text AS row FROM luthien.transactions t")
        rows += await connection.fetch("SELECT e::text AS row FROM luthien.events e")
    finally:
        await connection.close()
    return "\n".join(str(row["row"]) for row in rows)


def test_postgres_and_the_spool_hold_no_client_secret(postgres_proxy: PostgresProxy) -> None:
    proxy, seeds = postgres_proxy.proxy, Seeds.new()
    transaction_ids = send_every_kind(proxy, seeds, backend="anthropic")
    wait_until_recorded(proxy, transaction_ids)
    assert_only_marker("JSON-lines file", proxy.events_file.read_text(), seeds)
    assert_only_marker("Postgres", asyncio.run(postgres_dump(postgres_proxy.dsn, transaction_ids)), seeds)
    spool = proxy.events_file.parent / "spool" / "redis"
    deadline = time.monotonic() + 15
    while True:
        spooled = "".join(path.read_text() for path in spool.rglob("*.jsonl"))
        if all(t in spooled for t in transaction_ids):
            break
        assert time.monotonic() < deadline, "the Redis events did not reach the spool"
        time.sleep(0.05)  # the Redis writer spools on its own schedule; bounded by the deadline
    assert_only_marker("spool", spooled, seeds)
