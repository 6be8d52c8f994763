"""Blocks decided later (`hold_block`): concurrent decisions, the stream flowing meanwhile,
decisions arriving while the upstream is quiet, keepalives, failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.errors import PolicyError, StreamIdleTimeoutError
from luthien_litellm_plugin.events import TRANSACTION_COMPLETED, InMemoryEventSink
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.streaming import runtime
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock, ToolCallStreamBlock
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.streaming.helpers import BlockDecision, hold_block
from luthien_litellm_plugin.types import ToolCall
from tests.streams import SPAN, assert_valid_egress, chunk, request, served_text, served_tool_calls

CALLS = [
    chunk("Checking.", role="assistant"),
    chunk(tool_call=(0, "call_w", "get_weather", "{}")),
    chunk(tool_call=(1, "call_b", "bash", '{"command": "ls"}')),
    chunk(finish_reason="tool_calls"),
]


class Judge(Policy):
    """Holds every tool call until `release` is set; drops bash (replaced by a note)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: list[str] = []
        self.all_started = asyncio.Event()

    async def on_tool_call_complete(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
        hold_block(ctx, block, self.decide(block.name))

    async def decide(self, name: str) -> BlockDecision:
        self.started.append(name)
        if len(self.started) == 2:
            self.all_started.set()
        await self.release.wait()
        if name == "bash":
            return BlockDecision.drop(text=f"[{name} refused]")
        return BlockDecision.keep()


async def stream(
    policy: Policy, upstream: AsyncIterator[ModelResponseStream], sink: InMemoryEventSink | None = None
) -> AsyncIterator[ModelResponseStream]:
    orchestrator = create_default_orchestrator(policy, ReplayLLMClient(), db_pool=sink)
    final = await orchestrator.process_request(request(), "txn", SPAN)
    async for item in orchestrator.stream_response(upstream, "txn", SPAN, final):
        yield item


async def iterate(chunks: list[ModelResponseStream]) -> AsyncIterator[ModelResponseStream]:
    for item in chunks:
        yield item


async def test_held_calls_are_decided_concurrently_and_text_before_them_flows() -> None:
    policy = Judge()
    served = stream(policy, iterate(CALLS))
    first = await anext(served)
    assert served_text([first]) == "Checking."  # before any decision
    waiting = asyncio.ensure_future(anext(served))
    await policy.all_started.wait()  # both decisions run at once
    assert not waiting.done()
    policy.release.set()
    rest = [await waiting, *[item async for item in served]]
    everything = [first, *rest]
    assert_valid_egress(everything)
    assert served_tool_calls(everything) == [{"id": "call_w", "name": "get_weather", "arguments": "{}"}]
    assert served_text(everything) == "Checking.[bash refused]"


async def test_a_decision_arriving_while_the_upstream_is_quiet_is_served_at_once() -> None:
    class HoldText(Policy):
        async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
            hold_block(ctx, block, self.upper(block.content))

        async def upper(self, text: str) -> BlockDecision:
            return BlockDecision.drop(text=text.upper())

    upstream_resumes = asyncio.Event()

    async def quiet_after_the_text() -> AsyncIterator[ModelResponseStream]:
        yield chunk("hello", role="assistant")
        yield chunk(tool_call=(0, "call_w", "get_weather", "{}"))  # completes the text block
        await upstream_resumes.wait()
        yield chunk(finish_reason="tool_calls")

    served = stream(HoldText(), quiet_after_the_text())
    first = await anext(served)
    assert served_text([first]) == "HELLO"  # decided while the upstream said nothing more
    upstream_resumes.set()
    rest = [item async for item in served]
    assert served_tool_calls([first, *rest])[0]["name"] == "get_weather"


async def test_clients_get_keepalives_while_decisions_are_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "KEEPALIVE_SECONDS", 0.01)
    policy = Judge()
    orchestrator = create_default_orchestrator(policy, ReplayLLMClient())
    final = await orchestrator.process_request(request(), "txn", SPAN)
    ping = chunk("")  # whatever the wire uses; here a marker object
    served = orchestrator.stream_response(iterate(CALLS), "txn", SPAN, final, keepalive=lambda: ping)
    items = [await anext(served), await anext(served)]
    assert items[1] is ping
    policy.release.set()
    items += [item async for item in served]
    assert served_tool_calls([i for i in items if i is not ping])[0]["name"] == "get_weather"


async def test_a_decision_that_raises_fails_the_stream_closed() -> None:
    class Broken(Policy):
        async def on_tool_call_complete(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
            hold_block(ctx, block, self.fail())

        async def fail(self) -> BlockDecision:
            raise ValueError("judge exploded")

    sink = InMemoryEventSink()
    with pytest.raises(PolicyError, match="judge exploded"):
        async for _ in stream(Broken(), iterate(CALLS), sink):
            pass
    assert [e.payload["status"] for e in sink.of_type(TRANSACTION_COMPLETED)] == ["error"]


async def test_a_client_leaving_cancels_pending_decisions() -> None:
    cancelled = asyncio.Event()

    class Watched(Judge):
        async def decide(self, name: str) -> BlockDecision:
            try:
                return await super().decide(name)
            except asyncio.CancelledError:
                cancelled.set()
                raise

    watched = Watched()
    served = stream(watched, iterate(CALLS))
    await anext(served)
    waiting = asyncio.ensure_future(anext(served))
    await watched.all_started.wait()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await served.aclose()
    assert cancelled.is_set()


async def test_a_replacement_tool_call_goes_in_the_held_calls_place() -> None:
    class Swap(Policy):
        async def on_tool_call_complete(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
            hold_block(ctx, block, self.swap(block.name))

        async def swap(self, name: str) -> BlockDecision:
            if name == "bash":
                return BlockDecision.drop(tool_call=ToolCall(id="call_safe", name="echo", arguments="{}"))
            return BlockDecision.keep()

    items = [item async for item in stream(Swap(), iterate(CALLS))]
    assert_valid_egress(items)
    assert [c["name"] for c in served_tool_calls(items)] == ["get_weather", "echo"]


# ----- keepalives and the idle timeout while blocks are held -----


class Slow(Policy):
    """Holds each tool call for `seconds` (None: until cancelled), declaring `budget` as its time budget."""

    def __init__(self, seconds: float | None, budget: float | None) -> None:
        self.seconds = seconds
        self.budget = budget

    async def on_tool_call_complete(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
        hold_block(ctx, block, self.decide(), timeout=self.budget)

    async def decide(self) -> BlockDecision:
        if self.seconds is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(self.seconds)  # a slow judge, not test synchronisation
        return BlockDecision.keep()


async def served_with_idle_timeout(
    policy: Policy, idle: float, upstream: AsyncIterator[ModelResponseStream], sink: InMemoryEventSink
) -> list[ModelResponseStream | str]:
    orchestrator = create_default_orchestrator(
        policy, ReplayLLMClient(), db_pool=sink, stream_idle_timeout_seconds=idle
    )
    final = await orchestrator.process_request(request(), "txn", SPAN)
    return [item async for item in orchestrator.stream_response(upstream, "txn", SPAN, final, keepalive=lambda: "ping")]


async def test_a_pending_decision_within_its_budget_counts_as_activity() -> None:
    sink = InMemoryEventSink()
    served = await served_with_idle_timeout(Slow(0.3, budget=5), 0.05, iterate(CALLS), sink)
    chunks = [item for item in served if not isinstance(item, str)]
    assert [c["name"] for c in served_tool_calls(chunks)] == ["get_weather", "bash"]
    assert [e.payload["status"] for e in sink.of_type(TRANSACTION_COMPLETED)] == ["success"]


@pytest.mark.parametrize("budget", [0.05, None])
async def test_a_decision_pending_past_its_budget_times_the_stream_out(
    budget: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "KEEPALIVE_SECONDS", 0.01)  # keepalives must not count as activity
    sink = InMemoryEventSink()
    served: list[ModelResponseStream | str] = []
    orchestrator = create_default_orchestrator(
        Slow(None, budget), ReplayLLMClient(), db_pool=sink, stream_idle_timeout_seconds=0.1
    )
    final = await orchestrator.process_request(request(), "txn", SPAN)
    with pytest.raises(StreamIdleTimeoutError):
        async for item in orchestrator.stream_response(iterate(CALLS), "txn", SPAN, final, keepalive=lambda: "ping"):
            served.append(item)
    assert "ping" in served
    assert [e.payload["status"] for e in sink.of_type(TRANSACTION_COMPLETED)] == ["timeout"]


async def test_a_client_gets_keepalives_while_a_block_is_held_and_the_upstream_is_still_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime, "KEEPALIVE_SECONDS", 0.01)
    upstream_resumes = asyncio.Event()

    async def open_after_the_calls() -> AsyncIterator[ModelResponseStream]:
        for item in CALLS:
            yield item
        await upstream_resumes.wait()

    policy = Judge()
    orchestrator = create_default_orchestrator(policy, ReplayLLMClient())
    final = await orchestrator.process_request(request(), "txn", SPAN)
    served = orchestrator.stream_response(open_after_the_calls(), "txn", SPAN, final, keepalive=lambda: "ping")
    assert served_text([await anext(served)]) == "Checking."
    assert await anext(served) == "ping"  # held calls, an upstream that is open but quiet
    policy.release.set()
    upstream_resumes.set()
    rest = [item async for item in served]
    assert served_tool_calls([item for item in rest if not isinstance(item, str)])[0]["name"] == "get_weather"
