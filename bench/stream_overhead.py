"""Cost of the streaming path per chunk, in µs, for a few policies.

Streams a long LiteLLM-produced response (its mock provider: real `ModelResponseStream`
chunks, no network) through `PolicyOrchestrator.stream_response` and subtracts the cost of
merely iterating the same chunks. The `/v1/messages` arms do the same with an Anthropic SSE
stream of as many events (bytes cut in 1 KB reads) through `stream_anthropic_response`, the
`/v1/responses` arms with a Responses stream of as many events (LiteLLM's parsed event objects,
as the proxy hands them over) through `stream_responses_response`. A last table gives the
cost of a whole short transaction (request, 5 text deltas, records) per API: the fixed cost
per stream that the per-event numbers amortize away.
Run: `.venv/bin/python -m bench.stream_overhead`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from litellm.llms.openai.responses.transformation import OpenAIResponsesAPIConfig
from litellm.types.utils import ModelResponseStream
from opentelemetry.trace import INVALID_SPAN

from bench.fake_upstream import responses_stream
from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.llm.litellm_client import LiteLLMClient
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies.all_caps import AllCapsPolicy
from luthien_litellm_plugin.policies.block_tools import BlockToolsOptions, BlockToolsPolicy
from luthien_litellm_plugin.policies.passthrough import PassthroughPolicy
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.streaming.anthropic_egress import encode_event
from luthien_litellm_plugin.streaming.anthropic_sse import SSEParser
from luthien_litellm_plugin.types import JSONObject, RequestMessage

TEXT_CHARS = 6_000  # LiteLLM's mock streams 3 characters a chunk → ~2,000 chunks
ROUNDS = 15
SHORT_DELTAS = 5
SHORT_STREAMS = 100
"""Transactions per arm and round in the short-stream table (their median is the round's value)."""
T = TypeVar("T")
TEXT_BLOCK: JSONObject = {"type": "text", "text": ""}


class DiscardingSink:
    def submit(self, event: RecordedEvent) -> None:
        pass


async def litellm_chunks(chars: int) -> list[ModelResponseStream]:
    text = ("The quick brown fox jumps over the lazy dog. " * (chars // 45 + 1))[:chars]
    client = LiteLLMClient(mock_response=text)
    request = RequestMessage(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    return [chunk async for chunk in client.stream(request)]


async def iterate(items: Sequence[T]) -> AsyncIterator[T]:
    for item in items:
        yield item


async def baseline(items: Sequence[object]) -> float:
    """The cost of merely iterating `items` (subtracted from every arm)."""
    start = time.perf_counter()
    async for _ in iterate(items):
        pass
    return time.perf_counter() - start


async def through_policy(chunks: Sequence[ModelResponseStream], policy: Policy) -> float:
    orchestrator = create_default_orchestrator(policy, ReplayLLMClient(), db_pool=DiscardingSink())
    request = RequestMessage.model_validate(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    )
    start = time.perf_counter()  # the request's processing counts too: it is paid per stream
    final = await orchestrator.process_request(request, "bench", INVALID_SPAN)
    async for _ in orchestrator.stream_response(iterate(chunks), "bench", INVALID_SPAN, final):
        pass
    return time.perf_counter() - start


def anthropic_reads(events: int) -> list[bytes]:
    """An Anthropic SSE text stream with `events` text deltas, cut into 1 KB reads like TCP."""
    words = ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog.", ""]
    message: JSONObject = {"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude", "content": []}
    start: JSONObject = {
        **message,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 1},
    }
    parts = [
        encode_event("message_start", {"type": "message_start", "message": start}),
        encode_event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": TEXT_BLOCK}),
    ]
    for i in range(events):
        delta: JSONObject = {"type": "text_delta", "text": words[i % len(words)] + " "}
        parts.append(encode_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    parts.append(encode_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    stop: JSONObject = {"stop_reason": "end_turn", "stop_sequence": None}
    parts.append(encode_event("message_delta", {"type": "message_delta", "delta": stop, "usage": {"output_tokens": 9}}))
    parts.append(encode_event("message_stop", {"type": "message_stop"}))
    body = b"".join(parts)
    return [body[i : i + 1024] for i in range(0, len(body), 1024)]


async def anthropic_through_policy(reads: Sequence[bytes], policy: Policy) -> float:
    orchestrator = create_default_orchestrator(policy, ReplayLLMClient(), db_pool=DiscardingSink())
    request = RequestMessage.model_validate(
        {"model": "claude", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    )
    start = time.perf_counter()  # the request's processing counts too: it is paid per stream
    final = await orchestrator.process_request(request, "bench", INVALID_SPAN)
    async for _ in orchestrator.stream_anthropic_response(iterate(reads), "bench", INVALID_SPAN, final):
        pass
    return time.perf_counter() - start


def responses_events(deltas: int) -> list[object]:
    """A Responses text stream with `deltas` text deltas, as LiteLLM's event objects (what the hook receives)."""
    config = OpenAIResponsesAPIConfig()
    parsed = SSEParser().feed(responses_stream(deltas))
    return [config.transform_streaming_response("bench", event.json(), None) for event in parsed]  # type: ignore[arg-type]


async def responses_through_policy(events: Sequence[object], policy: Policy) -> float:
    orchestrator = create_default_orchestrator(policy, ReplayLLMClient(), db_pool=DiscardingSink())
    request = RequestMessage.model_validate(
        {"model": "bench", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    )
    start = time.perf_counter()  # the request's processing counts too: it is paid per stream
    final = await orchestrator.process_request(request, "bench", INVALID_SPAN)
    async for _ in orchestrator.stream_responses_response(iterate(events), "bench", INVALID_SPAN, final):
        pass
    return time.perf_counter() - start


def block_bash() -> Policy:
    return BlockToolsPolicy(BlockToolsOptions(tools=["Bash"]))


async def main(chars: int = TEXT_CHARS, rounds: int = ROUNDS) -> dict[str, dict[str, float]]:
    """Measure every arm; print the tables and return µs per item by API and arm."""
    chunks = await litellm_chunks(chars)
    arms: dict[str, Callable[[], Policy]] = {
        "passthrough (forward each chunk)": PassthroughPolicy,
        "SimplePolicy, no transform": SimplePolicy,
        "SimplePolicy, upper-case (all_caps)": AllCapsPolicy,
        "block_tools (decides tool calls only)": block_bash,
    }
    samples: dict[str, list[float]] = {name: [] for name in arms}
    base: list[float] = []
    for _ in range(rounds):  # interleaved rounds: drift hits every arm alike
        base.append(await baseline(chunks))
        for name, make in arms.items():
            samples[name].append(await through_policy(chunks, make()))
    reads = anthropic_reads(len(chunks))
    anthropic_samples: dict[str, list[float]] = {name: [] for name in arms}
    anthropic_base: list[float] = []
    for _ in range(rounds):
        anthropic_base.append(await baseline(reads))
        for name, make in arms.items():
            anthropic_samples[name].append(await anthropic_through_policy(reads, make()))
    events = responses_events(len(chunks))
    responses_samples: dict[str, list[float]] = {name: [] for name in arms}
    responses_base: list[float] = []
    for _ in range(rounds):
        responses_base.append(await baseline(events))
        for name, make in arms.items():
            responses_samples[name].append(await responses_through_policy(events, make()))
    print(f"{len(chunks)} LiteLLM chunks per stream, {rounds} rounds, median; default recorder (events discarded)")
    results = {
        "chat": report("/v1/chat/completions", "µs/chunk", samples, base, len(chunks)),
        "messages": report(
            "/v1/messages (Anthropic SSE bytes)", "µs/event", anthropic_samples, anthropic_base, len(chunks) + 5
        ),
        "responses": report(
            "/v1/responses (LiteLLM's event objects)", "µs/event", responses_samples, responses_base, len(events)
        ),
    }
    results["short"] = await short_streams(arms, rounds)
    return results


async def short_streams(arms: dict[str, Callable[[], Policy]], rounds: int) -> dict[str, float]:
    """µs per whole transaction (request, a stream of `SHORT_DELTAS` text deltas, records): the
    fixed cost per stream, which dominates the short streams of agents."""
    short_chunks = await litellm_chunks(SHORT_DELTAS * 3)  # LiteLLM's mock streams 3 characters a chunk
    reads, events = anthropic_reads(SHORT_DELTAS), responses_events(SHORT_DELTAS)
    apis: dict[str, Callable[[Policy], Awaitable[float]]] = {
        "chat": lambda policy: through_policy(short_chunks, policy),
        "messages": lambda policy: anthropic_through_policy(reads, policy),
        "responses": lambda policy: responses_through_policy(events, policy),
    }
    samples: dict[tuple[str, str], list[float]] = {(api, arm): [] for api in apis for arm in arms}
    for _ in range(rounds):
        for (api, arm), values in samples.items():
            run = [await apis[api](arms[arm]()) for _ in range(SHORT_STREAMS)]
            values.append(statistics.median(run))
    print(f"\nShort streams ({SHORT_DELTAS} text deltas): µs per transaction, request included")
    print(f"{'arm':40} " + " ".join(f"{api:>10}" for api in apis))
    per_stream: dict[str, float] = {}
    for arm in arms:
        cells = [statistics.median(samples[api, arm]) * 1e6 for api in apis]
        per_stream.update({f"{api} {arm}": cell for api, cell in zip(apis, cells, strict=True)})
        print(f"{arm:40} " + " ".join(f"{cell:10.0f}" for cell in cells))
    return per_stream


def report(title: str, unit: str, samples: dict[str, list[float]], base: list[float], count: int) -> dict[str, float]:
    base_us = statistics.median(base) / count * 1e6
    print(f"\n{title}\n{'arm':40} {unit:>10} {'total ms':>10}")
    per_item: dict[str, float] = {}
    for name, values in samples.items():
        per_item[name] = statistics.median(values) / count * 1e6 - base_us
        print(f"{name:40} {per_item[name]:10.2f} {statistics.median(values) * 1e3:10.1f}")
    return per_item


if __name__ == "__main__":
    asyncio.run(main())
