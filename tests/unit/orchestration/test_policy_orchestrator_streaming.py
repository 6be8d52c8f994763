"""Streaming through PolicyOrchestrator: hook order, errors, timeout, cancellation, recording."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.errors import PolicyBlockedError, PolicyError, StreamIdleTimeoutError
from luthien_litellm_plugin.events import TRANSACTION_COMPLETED, InMemoryEventSink
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock, ToolCallStreamBlock
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.streaming.helpers import passthrough_last_chunk, send_text
from tests.streams import SPAN, chunk, iterate, request, serve, served_text, usage_chunk

TEXT_THEN_TOOL = [
    chunk("Hi", role="assistant"),
    chunk(tool_call=(0, "call_1", "f", '{"a":')),
    chunk(tool_call=(0, None, None, "1}")),
    chunk(finish_reason="tool_calls"),
    usage_chunk(),
]


class Passthrough(Policy):
    async def on_chunk_received(self, ctx: StreamingResponseContext) -> None:
        await passthrough_last_chunk(ctx)


class Recording(Passthrough):
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def on_chunk_received(self, ctx: StreamingResponseContext) -> None:
        self.calls.append("chunk")
        await super().on_chunk_received(ctx)

    async def on_content_delta(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
        self.calls.append("content_delta")

    async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
        self.calls.append("content_complete")

    async def on_tool_call_delta(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
        self.calls.append("tool_delta")

    async def on_tool_call_complete(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
        self.calls.append("tool_complete")

    async def on_finish_reason(self, ctx: StreamingResponseContext) -> None:
        self.calls.append("finish")

    async def on_stream_complete(self, ctx: StreamingResponseContext) -> None:
        self.calls.append("stream_complete")


def completed(sink: InMemoryEventSink) -> list[tuple[object, object]]:
    return [(e.payload["status"], e.payload["error"]) for e in sink.of_type(TRANSACTION_COMPLETED)]


async def test_hooks_fire_in_order() -> None:
    policy = Recording()
    await serve(create_default_orchestrator(policy, ReplayLLMClient()), TEXT_THEN_TOOL)
    assert policy.calls == [
        "chunk",
        "content_delta",
        "chunk",
        "content_complete",  # the text completes as the tool call starts, before its delta hook
        "tool_delta",
        "chunk",
        "tool_delta",
        "chunk",
        "tool_complete",
        "finish",
        "chunk",
        "stream_complete",
    ]


async def test_passthrough_serves_every_chunk_once_and_records_success() -> None:
    sink = InMemoryEventSink()
    orchestrator = create_default_orchestrator(Passthrough(), ReplayLLMClient(), db_pool=sink)
    served = await serve(orchestrator, TEXT_THEN_TOOL)
    assert served == TEXT_THEN_TOOL  # same objects, same order: nothing needed fixing
    assert completed(sink) == [("success", None)]
    assert orchestrator.open_transactions == 0


async def test_upstream_error_propagates_and_is_recorded() -> None:
    sink = InMemoryEventSink()
    client = ReplayLLMClient([chunk("Hi", role="assistant")], error=ConnectionError("upstream reset"))
    orchestrator = create_default_orchestrator(Passthrough(), client, db_pool=sink)
    final = await orchestrator.process_request(request(), "txn", SPAN)
    served: list[ModelResponseStream] = []
    with pytest.raises(ConnectionError, match="upstream reset"):
        async for item in orchestrator.process_streaming_response(final, "txn", SPAN):
            served.append(item)
    assert served_text(served) == "Hi"
    assert completed(sink) == [("error", "ConnectionError: upstream reset")]


async def test_policy_exception_fails_closed_as_policy_error() -> None:
    class Broken(Policy):
        async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
            raise KeyError("oops")

    sink = InMemoryEventSink()
    orchestrator = create_default_orchestrator(Broken(), ReplayLLMClient(), db_pool=sink)
    final = await orchestrator.process_request(request(), "txn", SPAN)
    with pytest.raises(PolicyError, match="Broken") as raised:
        async for _ in orchestrator.stream_response(
            iterate([chunk("a"), chunk(finish_reason="stop")]), "txn", SPAN, final
        ):
            pass
    assert isinstance(raised.value.__cause__, KeyError)
    assert completed(sink)[0][0] == "error"


async def test_block_mid_stream_is_recorded_blocked() -> None:
    class BlockOnFinish(Passthrough):
        async def on_finish_reason(self, ctx: StreamingResponseContext) -> None:
            self.block("no")

    sink = InMemoryEventSink()
    orchestrator = create_default_orchestrator(BlockOnFinish(), ReplayLLMClient(), db_pool=sink)
    final = await orchestrator.process_request(request(), "txn", SPAN)
    with pytest.raises(PolicyBlockedError):
        async for _ in orchestrator.stream_response(iterate(TEXT_THEN_TOOL), "txn", SPAN, final):
            pass
    assert completed(sink) == [("blocked", "Blocked by policy 'BlockOnFinish': no")]


async def test_idle_upstream_times_out() -> None:
    never = asyncio.Event()

    async def stalls() -> AsyncIterator[ModelResponseStream]:
        yield chunk("Hi", role="assistant")
        await never.wait()
        yield chunk("never")

    sink = InMemoryEventSink()
    orchestrator = create_default_orchestrator(
        Passthrough(), ReplayLLMClient(), db_pool=sink, stream_idle_timeout_seconds=0.05
    )
    final = await orchestrator.process_request(request(), "txn", SPAN)
    served: list[ModelResponseStream] = []
    with pytest.raises(StreamIdleTimeoutError):
        async for item in orchestrator.stream_response(stalls(), "txn", SPAN, final):
            served.append(item)
    assert served_text(served) == "Hi"
    assert completed(sink)[0][0] == "timeout"


async def test_keepalive_from_a_slow_policy_holds_off_the_timeout() -> None:
    class Slow(Passthrough):
        async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
            loop = asyncio.get_running_loop()
            for _ in range(6):  # 6 × 60 ms of work > the 200 ms timeout, with keepalives between
                done = loop.create_future()
                loop.call_later(0.06, done.set_result, None)
                await done
                ctx.keepalive()
            await send_text(ctx, "!")

    orchestrator = create_default_orchestrator(Slow(), ReplayLLMClient(), stream_idle_timeout_seconds=0.2)
    served = await serve(orchestrator, [chunk("a", role="assistant"), chunk(finish_reason="stop")])
    assert served_text(served) == "a!"


async def test_a_slow_policy_without_keepalives_times_out() -> None:
    class Stuck(Passthrough):
        async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
            await asyncio.Event().wait()

    sink = InMemoryEventSink()
    orchestrator = create_default_orchestrator(
        Stuck(), ReplayLLMClient(), db_pool=sink, stream_idle_timeout_seconds=0.05
    )
    with pytest.raises(StreamIdleTimeoutError):
        await serve(orchestrator, [chunk("a", role="assistant"), chunk(finish_reason="stop")])
    assert completed(sink)[0][0] == "timeout"


async def test_a_stream_runs_in_the_consumer_task_alone() -> None:
    """No reader or processor task: the client's pull drives the policy and the upstream."""
    tasks_during: list[set[asyncio.Task[object]]] = []

    async def upstream() -> AsyncIterator[ModelResponseStream]:
        for item in TEXT_THEN_TOOL:
            tasks_during.append(asyncio.all_tasks())
            yield item

    orchestrator = create_default_orchestrator(Recording(), ReplayLLMClient())
    final = await orchestrator.process_request(request(), "txn", SPAN)
    before = asyncio.all_tasks()
    served = [c async for c in orchestrator.stream_response(upstream(), "txn", SPAN, final)]
    assert served_text(served) == "Hi"
    assert all(tasks == before for tasks in tasks_during)


async def test_client_leaving_cancels_tasks_closes_upstream_and_records_cancelled() -> None:
    closed = asyncio.Event()
    never = asyncio.Event()

    async def endless() -> AsyncIterator[ModelResponseStream]:
        try:
            yield chunk("Hi", role="assistant")
            await never.wait()
            yield chunk("never")
        finally:
            closed.set()

    sink = InMemoryEventSink()
    orchestrator = create_default_orchestrator(Passthrough(), ReplayLLMClient(), db_pool=sink)
    final = await orchestrator.process_request(request(), "txn", SPAN)
    tasks_before = asyncio.all_tasks()
    stream = orchestrator.stream_response(endless(), "txn", SPAN, final)
    first = await anext(stream)
    await stream.aclose()
    assert first.choices[0].delta.content == "Hi"
    assert closed.is_set()
    assert asyncio.all_tasks() == tasks_before
    assert completed(sink) == [("cancelled", "client disconnected")]
    assert orchestrator.open_transactions == 0


async def test_cancellation_of_the_consuming_task_records_cancelled() -> None:
    never = asyncio.Event()
    started = asyncio.Event()

    async def endless() -> AsyncIterator[ModelResponseStream]:
        yield chunk("Hi", role="assistant")
        started.set()
        await never.wait()
        yield chunk("x")

    sink = InMemoryEventSink()
    orchestrator = create_default_orchestrator(Passthrough(), ReplayLLMClient(), db_pool=sink)
    final = await orchestrator.process_request(request(), "txn", SPAN)

    async def consume() -> None:
        async for _ in orchestrator.stream_response(endless(), "txn", SPAN, final):
            pass

    consumer = asyncio.create_task(consume())
    await started.wait()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert completed(sink) == [("cancelled", "client disconnected")]


async def test_concurrent_transactions_do_not_share_state() -> None:
    class CountsChunks(Passthrough):
        async def on_chunk_received(self, ctx: StreamingResponseContext) -> None:
            count = ctx.scratchpad.get("n", 0)
            assert isinstance(count, int)
            ctx.scratchpad["n"] = count + 1
            await super().on_chunk_received(ctx)

        async def on_stream_complete(self, ctx: StreamingResponseContext) -> None:
            await send_text(ctx, f" n={ctx.scratchpad['n']}")

    orchestrator = create_default_orchestrator(CountsChunks(), ReplayLLMClient())
    streams = [[chunk(f"s{i}", role="assistant")] * (i + 1) + [chunk(finish_reason="stop")] for i in range(5)]
    results = await asyncio.gather(*(serve(orchestrator, s, f"t{i}") for i, s in enumerate(streams)))
    assert [served_text(r).split(" n=")[1] for r in results] == [str(i + 2) for i in range(5)]
