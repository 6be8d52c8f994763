"""Every hook's default changes nothing: a policy overriding any one hook (with a body that
does nothing) serves exactly what the upstream sent, streaming and not."""

from __future__ import annotations

import pytest
from litellm.types.utils import ModelResponse

from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies.policy import Policy, PolicyContext
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock, ToolCallStreamBlock
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.types import RequestMessage
from tests.streams import SPAN, chunk, request, serve, served_text, served_tool_calls, usage_chunk

UPSTREAM = [
    chunk("", role="assistant"),
    chunk("Let me "),
    chunk("check."),
    chunk(tool_call=(0, "call_a", "get_weather", '{"loc')),
    chunk(tool_call=(0, None, None, '": "Paris"}')),
    chunk(finish_reason="tool_calls"),
    usage_chunk(),
]


class OnRequest(Policy):
    async def on_request(self, request: RequestMessage, context: PolicyContext) -> RequestMessage:
        return request


class OnChunkReceived(Policy):
    async def on_chunk_received(self, ctx: StreamingResponseContext) -> None:
        pass


class OnContentDelta(Policy):
    async def on_content_delta(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
        pass


class OnContentComplete(Policy):
    async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
        pass


class OnToolCallDelta(Policy):
    async def on_tool_call_delta(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
        pass


class OnToolCallComplete(Policy):
    async def on_tool_call_complete(self, ctx: StreamingResponseContext, block: ToolCallStreamBlock) -> None:
        pass


class OnFinishReason(Policy):
    async def on_finish_reason(self, ctx: StreamingResponseContext) -> None:
        pass


class OnStreamComplete(Policy):
    async def on_stream_complete(self, ctx: StreamingResponseContext) -> None:
        pass


class ProcessFullResponse(Policy):
    async def process_full_response(self, response: ModelResponse, context: PolicyContext) -> ModelResponse:
        return response


POLICIES = [
    OnRequest,
    OnChunkReceived,
    OnContentDelta,
    OnContentComplete,
    OnToolCallDelta,
    OnToolCallComplete,
    OnFinishReason,
    OnStreamComplete,
    ProcessFullResponse,
]


@pytest.mark.parametrize("policy_class", POLICIES, ids=[p.__name__ for p in POLICIES])
async def test_streaming_passes_everything_through(policy_class: type[Policy]) -> None:
    served = await serve(create_default_orchestrator(policy_class(), ReplayLLMClient()), UPSTREAM)
    assert served_text(served) == "Let me check."
    assert served_tool_calls(served) == [{"id": "call_a", "name": "get_weather", "arguments": '{"loc": "Paris"}'}]
    assert served[-1].usage is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize("policy_class", POLICIES, ids=[p.__name__ for p in POLICIES])
async def test_non_streaming_passes_everything_through(policy_class: type[Policy]) -> None:
    message = {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
    }
    response = ModelResponse(choices=[{"message": message, "finish_reason": "tool_calls"}])
    orchestrator = create_default_orchestrator(policy_class(), ReplayLLMClient())
    final_request = await orchestrator.process_request(request(stream=False), "txn", SPAN)
    final = await orchestrator.apply_full_response(response, "txn", SPAN, final_request)
    assert final.model_dump() == response.model_dump()
