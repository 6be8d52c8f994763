"""The plan's own example, with an LLMClient replaying chunks LiteLLM itself produced.

One change from the plan's text: its join gains `or ""`, because `Delta.get("content", "")`
returns None (not the default) for the finish chunk, which has no content.
"""

from __future__ import annotations

import pytest
from litellm.types.utils import ModelResponseStream
from opentelemetry import trace

from luthien_litellm_plugin.llm.litellm_client import LiteLLMClient
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.types import RequestMessage
from tests.streams import assert_valid_egress

tracer = trace.get_tracer(__name__)


class UppercasePolicy(SimplePolicy):
    async def on_response_content(self, content: str, request) -> str:  # type: ignore[no-untyped-def]
        return content.upper()


async def litellm_chunks(text: str) -> list[ModelResponseStream]:
    """What LiteLLM itself streams for `text` (its mock provider: no network)."""
    client = LiteLLMClient(mock_response=text)
    request = RequestMessage(model="gpt-4", messages=[{"role": "user", "content": "Say hello"}])
    return [chunk async for chunk in client.stream(request)]


@pytest.mark.e2e
async def test_streaming_openai_with_uppercase_policy() -> None:
    """E2E test: OpenAI streaming with uppercase transformation."""
    policy = UppercasePolicy()
    llm_client = ReplayLLMClient(await litellm_chunks("Hello! How can I help you today?"))

    orchestrator = create_default_orchestrator(
        policy=policy,
        llm_client=llm_client,
        db_pool=None,
        event_publisher=None,
    )

    request = RequestMessage(
        model="gpt-4",
        messages=[{"role": "user", "content": "Say hello"}],
    )

    with tracer.start_as_current_span("test_span") as span:
        final_request = await orchestrator.process_request(request, "test-txn-id", span)

        chunks = []
        async for chunk in orchestrator.process_streaming_response(final_request, "test-txn-id", span):
            chunks.append(chunk)

    content = "".join(c.choices[0].delta.get("content", "") or "" for c in chunks if c.choices)
    assert content.isupper()
    assert "HELLO" in content or "HI" in content
    assert content == "HELLO! HOW CAN I HELP YOU TODAY?"
    assert_valid_egress(chunks)
