"""Runs a stream through a policy processor: upstream reader → processor → client.

Three parties joined by channels with explicit close: a reader task drains the upstream (to
its end) into the ingress channel, a processor task runs the policy and writes the egress
channel, and the caller iterates the egress. Errors travel by closing a channel with the
error; the idle watchdog closes the egress with a timeout. Leaving the iteration early
(client gone) cancels both tasks and closes the upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import TypeVar

from litellm.types.utils import ModelResponseStream
from opentelemetry.trace import Span

from luthien_litellm_plugin.errors import StreamIdleTimeoutError
from luthien_litellm_plugin.streaming.channel import Channel
from luthien_litellm_plugin.streaming.idle_watchdog import IdleWatchdog

Chunk = ModelResponseStream
Out = TypeVar("Out")
PolicyProcessor = Callable[[Channel[Chunk], Channel[Out], Callable[[], None]], Awaitable[None]]
"""`(incoming, outgoing, keepalive)`: reads `incoming` to its end, writes `outgoing` (chunks, or
the bytes of another wire format)."""

DEFAULT_IDLE_TIMEOUT_SECONDS = 30.0


class StreamingOrchestrator:
    """Connects an upstream, a policy processor and the client, with an idle timeout."""

    def process(
        self,
        upstream: AsyncIterator[Chunk],
        policy_processor: PolicyProcessor[Out],
        timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
        span: Span | None = None,
    ) -> AsyncGenerator[Out, None]:
        """Yield what the processor emits. Raises the upstream's or the processor's error."""
        ingress: Channel[Chunk] = Channel()
        egress: Channel[Out] = Channel()
        reader = _read_upstream(upstream, ingress)
        return _run(reader, upstream, policy_processor, ingress, egress, timeout_seconds, None)

    def process_batches(
        self,
        upstream: AsyncIterator[Sequence[Chunk]],
        policy_processor: PolicyProcessor[Out],
        join: Callable[[list[Out]], Out],
        timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
    ) -> AsyncGenerator[Out, None]:
        """Like `process`, for an upstream whose items each hold several chunks (e.g. the events
        of one network read). A batch is processed at once, and what the processor emitted
        meanwhile leaves as one item, `join(items)`: fewer, larger writes, no added wait.
        """
        ingress: Channel[Chunk] = Channel()
        egress: Channel[Out] = Channel()
        reader = _read_upstream_batches(upstream, ingress)
        return _run(reader, upstream, policy_processor, ingress, egress, timeout_seconds, join)


Reader = Callable[[Callable[[], None]], Coroutine[object, object, None]]
"""Reads the upstream into the ingress channel (and closes it), given the keepalive to call."""


async def _run(
    reader: Reader,
    upstream: AsyncIterator[Chunk] | AsyncIterator[Sequence[Chunk]],
    processor: PolicyProcessor[Out],
    ingress: Channel[Chunk],
    egress: Channel[Out],
    timeout_seconds: float,
    join: Callable[[list[Out]], Out] | None,
) -> AsyncGenerator[Out, None]:
    watchdog = IdleWatchdog(timeout_seconds, lambda: egress.close(StreamIdleTimeoutError(timeout_seconds)))
    tasks = (
        asyncio.create_task(reader(watchdog.keepalive)),
        asyncio.create_task(_run_processor(processor, ingress, egress, watchdog.keepalive)),
    )
    try:
        if join is None:
            async for item in egress:
                yield item
        else:
            while items := await egress.receive_available():
                yield items[0] if len(items) == 1 else join(items)
    finally:
        watchdog.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await _close(upstream)


def _read_upstream(upstream: AsyncIterator[Chunk], ingress: Channel[Chunk]) -> Reader:
    async def read(keepalive: Callable[[], None]) -> None:
        try:
            async for chunk in upstream:
                keepalive()
                ingress.send_nowait(chunk)
                # A fast upstream's chunks are all buffered already, so this loop would otherwise
                # parse the whole stream before the policy and the client see the first chunk.
                await asyncio.sleep(0)
        except Exception as error:
            ingress.close(error)
        else:
            ingress.close()

    return read


def _read_upstream_batches(upstream: AsyncIterator[Sequence[Chunk]], ingress: Channel[Chunk]) -> Reader:
    async def read(keepalive: Callable[[], None]) -> None:
        try:
            async for batch in upstream:
                keepalive()
                for chunk in batch:
                    ingress.send_nowait(chunk)
                await asyncio.sleep(0)  # let the processor take the whole batch before the next read
        except Exception as error:
            ingress.close(error)
        else:
            ingress.close()

    return read


async def _run_processor(
    processor: PolicyProcessor[Out],
    ingress: Channel[Chunk],
    egress: Channel[Out],
    keepalive: Callable[[], None],
) -> None:
    try:
        await processor(ingress, egress, keepalive)
    except Exception as error:
        egress.close(error)
    else:
        egress.close()


async def _close(upstream: AsyncIterator[Chunk] | AsyncIterator[Sequence[Chunk]]) -> None:
    aclose = getattr(upstream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
