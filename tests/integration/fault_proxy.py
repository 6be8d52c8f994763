"""A TCP proxy on 127.0.0.1 that a test can cut (drop every connection, refuse new ones) and heal."""

from __future__ import annotations

import asyncio
import contextlib

from luthien_litellm_plugin.storage.writer import SinkWriter
from tests.fakes.upstream import free_port
from tests.integration.events_fixture import transaction_events


class FaultProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def heal(self) -> None:
        await self.start()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update({client_writer, target_writer})
        await asyncio.gather(_pipe(client_reader, target_writer), _pipe(target_reader, client_writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


async def submit_through_outage(writer: SinkWriter, fault: FaultProxy, transactions: int) -> list[str]:
    """Submit `transactions` transactions' events; the store is cut for the middle third.

    Returns the submitted event ids, in order. Asserts the outage really spooled events.
    """
    submitted: list[str] = []
    for index in range(transactions):
        if index == transactions // 3:
            await writer.settle()
            await fault.cut()
        if index == 2 * transactions // 3:
            await writer.flush()  # these went to the spool while the store was unreachable
            assert writer.counters.spooled > 0
            await fault.heal()
        for event in transaction_events(f"t{index}"):
            writer.submit(event)
            submitted.append(event.event_id)
    return submitted
