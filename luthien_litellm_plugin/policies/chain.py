"""chain: several policies in a row, each seeing the request or response as the previous one left it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from litellm.types.utils import ModelResponse

from luthien_litellm_plugin.policies.policy import Policy, PolicyContext, StreamHooks, fail_closed, overrides
from luthien_litellm_plugin.types import RequestMessage

T = TypeVar("T")


class ChainPolicy(Policy):
    """Runs `members` in order: requests and complete responses pass through each in turn.

    Streams go through each member too, chunk by chunk (the orchestrator builds one stream per
    member and feeds each what the previous one released), so a tool call the first member drops
    never reaches the second, and text every member forwards still flows as it arrives. Nested
    chains are flattened. Each member keeps its own scratchpad.
    """

    def __init__(self, members: Sequence[Policy]) -> None:
        if not members:
            raise ValueError("a chain needs at least one policy")
        flat: list[Policy] = []
        for member in members:
            flat.extend(member.members if isinstance(member, ChainPolicy) else (member,))
        self.members: tuple[Policy, ...] = tuple(flat)

    def stream_hooks(self) -> StreamHooks:
        raise TypeError("a chain streams through one stream per member (see orchestration.chain_stream)")

    def has_request_hook(self) -> bool:
        return overrides(self, "on_request", ChainPolicy) or any(member.has_request_hook() for member in self.members)

    async def on_request(self, request: RequestMessage, context: PolicyContext) -> RequestMessage:
        for index, member in enumerate(self.members):
            request = await fail_closed(member, member.on_request(request, context.for_member(index, request)))
        return request

    async def process_full_response(self, response: ModelResponse, context: PolicyContext) -> ModelResponse:
        for index, member in enumerate(self.members):
            member_context = context.for_member(index, context.request)
            response = await fail_closed(member, member.process_full_response(response, member_context))
        return response
