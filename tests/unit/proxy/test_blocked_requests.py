"""A blocked request's answer: an error by default, or an assistant message that Anthropic clients can read."""

from __future__ import annotations

from collections.abc import AsyncIterator

from anthropic.types import Message
from fastapi import HTTPException
from litellm.exceptions import ModifyResponseException

from luthien_litellm_plugin.errors import PolicyBlockedError
from luthien_litellm_plugin.proxy.blocked_requests import answer, as_anthropic_events, message_events
from luthien_litellm_plugin.streaming.anthropic_validator import validate_anthropic_stream
from tests.anthropic_streams import accumulate, parse

BLOCKED = PolicyBlockedError("no_shell", "no shells today")
LITELLM_MESSAGE = {  # what LiteLLM builds for a ModifyResponseException on /v1/messages
    "id": "msg_0123",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": BLOCKED.message}],
    "model": "claude-group",
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 0, "output_tokens": 0},
}


def test_error_mode_raises_the_client_format_error() -> None:
    error = answer(BLOCKED, {"model": "m"}, "chat", "error")
    assert isinstance(error, HTTPException) and error.status_code == 400


def test_message_mode_hands_litellm_the_explanation() -> None:
    data = {"model": "m"}
    error = answer(BLOCKED, data, "messages", "message")
    assert isinstance(error, ModifyResponseException)
    assert (error.message, error.model, error.request_data) == (BLOCKED.message, "m", data)


def test_the_message_becomes_a_well_formed_stream_the_sdk_reads_back() -> None:
    body = message_events(LITELLM_MESSAGE)
    assert validate_anthropic_stream(parse(body)) == []
    message = accumulate(body)
    assert message.model_dump() == Message.model_validate({**LITELLM_MESSAGE, "stop_sequence": None}).model_dump()


async def test_only_whole_messages_are_rewritten() -> None:
    items: list[object] = [b"event: ping\ndata: {}\n\n", LITELLM_MESSAGE, {"type": "other"}]

    async def upstream() -> AsyncIterator[object]:
        for item in items:
            yield item

    served = [item async for item in as_anthropic_events(upstream())]
    assert served == [items[0], message_events(LITELLM_MESSAGE), items[2]]
