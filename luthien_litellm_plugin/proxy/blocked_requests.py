"""What the client gets for a request a policy blocked: an error, or an assistant message saying why.

`blocked_request_response: error` (default) answers HTTP 400 `policy_blocked` in the client's
format. `message` answers 200 with a normal assistant message explaining the block (LiteLLM's
`ModifyResponseException`), so an agent's session goes on instead of failing. Either way the
upstream is never called and the transaction is recorded `blocked`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Literal, TypeGuard, TypeVar

from litellm.exceptions import ModifyResponseException

from luthien_litellm_plugin.errors import PolicyBlockedError
from luthien_litellm_plugin.proxy import request_data
from luthien_litellm_plugin.proxy.client_errors import http_error
from luthien_litellm_plugin.proxy.request_data import Api
from luthien_litellm_plugin.streaming.anthropic_egress import encode_event
from luthien_litellm_plugin.types import JSONObject

BlockedRequestResponse = Literal["error", "message"]
Item = TypeVar("Item")


def answer(error: PolicyBlockedError, data: dict, api: Api, mode: BlockedRequestResponse) -> Exception:
    """The exception the pre-call hook raises for a blocked request."""
    if mode == "message":
        # LiteLLM answers 200 with `message` as the assistant's text (chat: finish_reason
        # `content_filter`, or `stop` when streamed; /v1/messages: stop_reason `end_turn`), through
        # the response hooks: the transaction is over, so they must see a request the plugin let go.
        request_data.clear_marks(data)
        return ModifyResponseException(message=error.message, model=str(data.get("model")), request_data=data)
    return http_error(error, api)


async def as_anthropic_events(items: AsyncIterator[Item]) -> AsyncGenerator[Item | bytes, None]:
    """LiteLLM streams such a message on `/v1/messages` as one `data:` line holding the whole message,
    which Anthropic clients (they read events) cannot parse: send it as the events of a stream."""
    async for item in items:
        yield message_events(item) if _is_message(item) else item


def _is_message(item: object) -> TypeGuard[Mapping[str, object]]:
    return isinstance(item, Mapping) and item.get("type") == "message" and isinstance(item.get("content"), list)


def message_events(message: Mapping[str, object]) -> bytes:
    """A complete Anthropic message (text blocks only) as the SSE events a streamed one arrives in."""
    usage = message.get("usage")
    output_tokens = usage.get("output_tokens", 0) if isinstance(usage, Mapping) else 0
    start: JSONObject = {
        "id": str(message.get("id") or "msg_luthien"),
        "type": "message",
        "role": "assistant",
        "model": str(message.get("model") or ""),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
    events = [encode_event("message_start", {"type": "message_start", "message": start})]
    content = message.get("content")
    blocks = content if isinstance(content, list) else []
    texts = [str(block.get("text", "")) for block in blocks if isinstance(block, Mapping)]
    for index, text in enumerate(texts):
        events += [
            encode_event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
            ),
            encode_event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}},
            ),
            encode_event("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    delta: JSONObject = {"stop_reason": str(message.get("stop_reason") or "end_turn"), "stop_sequence": None}
    usage_delta: JSONObject = {"output_tokens": output_tokens if isinstance(output_tokens, int) else 0}
    events.append(encode_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage_delta}))
    events.append(encode_event("message_stop", {"type": "message_stop"}))
    return b"".join(events)
