"""A fake MCP server (streamable HTTP) with a shell tool and a harmless one, recording each call."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import uvicorn
from mcp.server.mcpserver import MCPServer

START_TIMEOUT = 10.0


@dataclass
class FakeMCPServer:
    """Tools `bash(command)` and `get_weather(location)`; `calls` lists what actually ran."""

    port: int
    calls: list[tuple[str, dict[str, object]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


def _server(record: FakeMCPServer) -> MCPServer:
    server = MCPServer("fake-tools")

    @server.tool()
    def bash(command: str) -> str:
        """Run a shell command (the fake only pretends)."""
        record.calls.append(("bash", {"command": command}))
        return f"ran: {command}"

    @server.tool()
    def get_weather(location: str) -> str:
        """The weather somewhere."""
        record.calls.append(("get_weather", {"location": location}))
        return f"sunny in {location}"

    return server


@contextmanager
def running_mcp_server() -> Iterator[FakeMCPServer]:
    """Serve on a free 127.0.0.1 port in a background thread until the block exits."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    record = FakeMCPServer(int(sock.getsockname()[1]))
    app = _server(record).streamable_http_app(stateless_http=True, json_response=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("fake MCP server failed to start")
        time.sleep(0.05)  # waiting for the server thread to listen; bounded by the deadline
    try:
        yield record
    finally:
        server.should_exit = True
        thread.join(10)
        with suppress(OSError):
            sock.close()
