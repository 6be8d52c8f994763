"""Serve the fake OpenAI (chat and Responses) + Anthropic upstream with uvicorn on 127.0.0.1, in a background thread."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.anthropic_upstream import anthropic_routes
from tests.fakes.common import RecordedRequest, UpstreamState
from tests.fakes.judge_upstream import JudgeCall, judge_routes
from tests.fakes.openai_upstream import openai_routes
from tests.fakes.responses_upstream import responses_routes
from tests.fakes.scenarios import Writes, parse_options

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_app(state: UpstreamState) -> Starlette:
    """One ASGI app with both APIs and `GET /health`."""

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def unknown(request: Request) -> Response:
        """Any other path: remembered (so a test can prove nothing reached the upstream), then 404."""
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"raw": raw.decode("utf-8", "replace")}
        recorded = RecordedRequest(request.url.path, dict(request.headers), body, parse_options(body))
        state.requests.append(recorded)
        recorded.finish("completed")
        return JSONResponse({"error": {"message": f"fake upstream: no route {request.url.path}"}}, status_code=404)

    routes = [
        *openai_routes(state),
        *anthropic_routes(state),
        *responses_routes(state),
        *judge_routes(state),
        Route("/health", health),
    ]
    routes.append(Route("/{path:path}", unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
    return Starlette(routes=routes)


class _Server(uvicorn.Server):
    """A uvicorn server that signals a thread-safe event once it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets)
        self.ready.set()


class FakeUpstream:
    """The fake APIs on one server: `/v1/chat/completions`, `/chat/completions`, `/v1/messages`, `/v1/responses`.

    Use `FakeUpstream.running()` (sync) or `FakeUpstream.arunning()` (async) as a context
    manager; `base_url` is the deployment's `api_base`, `requests` what the fake received.
    """

    def __init__(self, *, anthropic_writes: Writes = "coalesced", openai_writes: Writes = "aligned") -> None:
        self.state = UpstreamState()
        self.state.default_writes.update({"anthropic": anthropic_writes, "openai": openai_writes})
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            build_app(self.state),
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            timeout_graceful_shutdown=3,
            # Longer than the proxies keep idle connections pooled (aiohttp: 15 s): with uvicorn's
            # 5 s default a proxy can reuse a connection the fake just closed.
            timeout_keep_alive=120,
        )
        self._server = _Server(config)
        self._thread = threading.Thread(target=self._serve, name=f"fake-upstream-{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests

    @property
    def judge_calls(self) -> list[JudgeCall]:
        return self.state.judge_calls

    def close_judge_gate(self) -> None:
        """`judge-gated` holds its answers from now on."""
        self._on_server_loop(self.state.judge_gate.clear)

    def open_judge_gate(self) -> None:
        """`judge-gated` answers what it holds, and answers at once from now on."""
        self._on_server_loop(self.state.judge_gate.set)

    def _on_server_loop(self, action: Callable[[], None]) -> None:
        loop = self._server.loop
        if loop is None or loop.is_closed():
            action()
            return
        done = threading.Event()

        def run() -> None:
            action()
            done.set()

        loop.call_soon_threadsafe(run)
        if not done.wait(START_TIMEOUT):
            raise RuntimeError("the fake upstream's loop did not run the action")

    @property
    def alive(self) -> bool:
        """Whether the server thread is still running."""
        return self._thread.is_alive()

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def start(self) -> None:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.ready.wait(0.05):  # also notices a thread that died while starting
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fake upstream on port {self.port} failed to start")

    def stop(self) -> None:
        """Release hanging responses, shut the server down and join its thread."""
        loop = self._server.loop
        if loop is not None and not loop.is_closed():
            with suppress(RuntimeError):  # the loop closed in between: nothing left to release
                loop.call_soon_threadsafe(self.state.stop.set)
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT)
        self._socket.close()
        if self._thread.is_alive():
            raise RuntimeError(f"fake upstream on port {self.port} did not stop within {STOP_TIMEOUT}s")

    @classmethod
    @contextmanager
    def running(cls, **options: Writes) -> Iterator[FakeUpstream]:
        """Serve until the block exits (usable from sync and async fixtures)."""
        upstream = cls(**options)
        upstream.start()
        try:
            yield upstream
        finally:
            upstream.stop()

    @classmethod
    @asynccontextmanager
    async def arunning(cls, **options: Writes) -> AsyncIterator[FakeUpstream]:
        """Like `running()`, starting and stopping off the caller's event loop."""
        upstream = cls(**options)
        await asyncio.to_thread(upstream.start)
        try:
            yield upstream
        finally:
            await asyncio.to_thread(upstream.stop)
