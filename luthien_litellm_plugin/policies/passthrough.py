"""passthrough: forwards everything exactly as received."""

from __future__ import annotations

from litellm.types.utils import ModelResponse

from luthien_litellm_plugin.policies.policy import Policy, PolicyContext
from luthien_litellm_plugin.streaming.helpers import passthrough_last_chunk
from luthien_litellm_plugin.streaming.streaming_response_context import StreamingResponseContext


class PassthroughPolicy(Policy):
    """Changes nothing. Each streamed chunk is forwarded the moment it arrives (timing kept);
    requests and complete responses are returned as received. The transaction is still recorded.
    """

    async def on_chunk_received(self, ctx: StreamingResponseContext) -> None:
        await passthrough_last_chunk(ctx)

    async def process_full_response(self, response: ModelResponse, context: PolicyContext) -> ModelResponse:
        return response
