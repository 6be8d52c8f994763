"""Cost of the streaming path per chunk, in µs, for a few policies.

Streams a long LiteLLM-produced response (its mock provider: real `ModelResponseStream`
chunks, no network) through `PolicyOrchestrator.stream_response` and subtracts the cost of
merely iterating the same chunks. Run: `.venv/bin/python bench/stream_overhead.py`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator, Callable, Sequence

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from litellm.types.utils import ModelResponseStream
from opentelemetry.trace import INVALID_SPAN

from luthien_litellm_plugin.llm.litellm_client import LiteLLMClient
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.observability.events import RecordedEvent
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies.all_caps import AllCapsPolicy
from luthien_litellm_plugin.policies.passthrough import PassthroughPolicy
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.types import RequestMessage

TEXT_CHARS = 6_000  # LiteLLM's mock streams 3 characters a chunk → ~2,000 chunks
ROUNDS = 15


class DiscardingSink:
    def submit(self, event: RecordedEvent) -> None:
        pass


async def litellm_chunks() -> list[ModelResponseStream]:
    text = ("The quick brown fox jumps over the lazy dog. " * (TEXT_CHARS // 45 + 1))[:TEXT_CHARS]
    client = LiteLLMClient(mock_response=text)
    request = RequestMessage(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    return [chunk async for chunk in client.stream(request)]


async def iterate(chunks: Sequence[ModelResponseStream]) -> AsyncIterator[ModelResponseStream]:
    for chunk in chunks:
        yield chunk


async def baseline(chunks: Sequence[ModelResponseStream]) -> float:
    start = time.perf_counter()
    async for _ in iterate(chunks):
        pass
    return time.perf_counter() - start


async def through_policy(chunks: Sequence[ModelResponseStream], policy: Policy) -> float:
    orchestrator = create_default_orchestrator(policy, ReplayLLMClient(), db_pool=DiscardingSink())
    request = RequestMessage(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
    final = await orchestrator.process_request(request, "bench", INVALID_SPAN)
    start = time.perf_counter()
    async for _ in orchestrator.stream_response(iterate(chunks), "bench", INVALID_SPAN, final):
        pass
    return time.perf_counter() - start


async def main() -> None:
    chunks = await litellm_chunks()
    arms: dict[str, Callable[[], Policy]] = {
        "passthrough (forward each chunk)": PassthroughPolicy,
        "SimplePolicy, no transform": SimplePolicy,
        "SimplePolicy, upper-case (all_caps)": AllCapsPolicy,
    }
    samples: dict[str, list[float]] = {name: [] for name in arms}
    base: list[float] = []
    for _ in range(ROUNDS):  # interleaved rounds: drift hits every arm alike
        base.append(await baseline(chunks))
        for name, make in arms.items():
            samples[name].append(await through_policy(chunks, make()))
    base_us = statistics.median(base) / len(chunks) * 1e6
    print(f"{len(chunks)} LiteLLM chunks per stream, {ROUNDS} rounds, median; default recorder (events discarded)")
    print(f"{'arm':40} {'µs/chunk':>10} {'total ms':>10}")
    for name, values in samples.items():
        per_chunk = statistics.median(values) / len(chunks) * 1e6 - base_us
        print(f"{name:40} {per_chunk:10.2f} {statistics.median(values) * 1e3:10.1f}")


if __name__ == "__main__":
    asyncio.run(main())
