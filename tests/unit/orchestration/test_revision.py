"""A policy that edits what it is given in place is obeyed, and the record keeps what it was given."""

from __future__ import annotations

from typing import Any

import pytest
from litellm.types.utils import ModelResponse

from luthien_litellm_plugin import events
from luthien_litellm_plugin.events import InMemoryEventSink
from luthien_litellm_plugin.llm.replay_client import ReplayLLMClient
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.orchestration.policy_orchestrator import PolicyOrchestrator
from luthien_litellm_plugin.orchestration.revision import request_fields, revision
from luthien_litellm_plugin.policies.all_caps import AllCapsPolicy
from luthien_litellm_plugin.policies.block_tools import BlockToolsOptions, BlockToolsPolicy
from luthien_litellm_plugin.policies.chain import ChainPolicy
from luthien_litellm_plugin.policies.passthrough import PassthroughPolicy
from luthien_litellm_plugin.policies.policy import Policy, PolicyContext
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.types import JSONObject, RequestMessage, ToolCall
from tests.anthropic_streams import messages_request
from tests.streams import SPAN, request
from tests.unit.orchestration.test_anthropic_message import message
from tests.unit.orchestration.test_responses_object import output, response


class EditsInPlace(Policy):
    """Upper-cases the response's text and the first tool call's arguments on the object it was
    given, and returns that same object (never a copy)."""

    async def on_request(self, request: RequestMessage, context: PolicyContext) -> RequestMessage:
        request.messages[-1]["content"] = "edited"
        return request

    async def process_full_response(self, response: ModelResponse, context: PolicyContext) -> ModelResponse:
        message = response.choices[0].message  # type: ignore[union-attr]
        if message.content:
            message.content = message.content.upper()
        for call in message.tool_calls or []:
            call.function.arguments = call.function.arguments.upper()
            break
        return response


def orchestrator() -> tuple[PolicyOrchestrator, InMemoryEventSink]:
    sink = InMemoryEventSink()
    return create_default_orchestrator(EditsInPlace(), ReplayLLMClient(), sink), sink


def recorded(sink: InMemoryEventSink, event_type: str) -> tuple[JSONObject, JSONObject]:
    [event] = sink.of_type(event_type)
    prefix = "request" if event_type == events.TRANSACTION_REQUEST_RECORDED else "response"
    original, final = event.payload[f"original_{prefix}"], event.payload[f"final_{prefix}"]
    assert isinstance(original, dict) and isinstance(final, dict)
    return original, final


def text(fields: JSONObject) -> object:
    return fields["choices"][0]["message"]["content"]  # type: ignore[call-overload,index]


async def test_a_request_edited_in_place_is_recorded_as_sent_and_as_edited() -> None:
    engine, sink = orchestrator()
    revised = await engine.revise_request(request(), "t", SPAN)
    assert revised.changed and revised.final.messages[-1]["content"] == "edited"
    original, final = recorded(sink, events.TRANSACTION_REQUEST_RECORDED)
    assert original["messages"] == request().model_dump()["messages"]
    assert final["messages"][-1] == {"role": "user", "content": "edited"}  # type: ignore[index]


async def test_a_chat_response_edited_in_place_is_recorded_as_received_and_as_edited() -> None:
    engine, sink = orchestrator()
    final_request = await engine.process_request(request(stream=False), "t", SPAN)
    received = ModelResponse(choices=[{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}])
    served = await engine.apply_full_response(received, "t", SPAN, final_request)
    assert served.choices[0].message.content == "HI"  # type: ignore[union-attr]
    original, final = recorded(sink, events.TRANSACTION_NON_STREAMING_RESPONSE_RECORDED)
    assert (text(original), text(final)) == ("hi", "HI")


async def test_an_anthropic_message_edited_in_place_reaches_the_client() -> None:
    engine, sink = orchestrator()
    final_request = await engine.process_request(messages_request(), "t", SPAN)
    received = message("mixed_calls")
    served = await engine.apply_anthropic_message(received, "t", SPAN, final_request)
    blocks = served["content"]
    assert isinstance(blocks, list)
    [said] = [block["text"] for block in blocks if isinstance(block, dict) and block["type"] == "text"]
    calls = [block["input"] for block in blocks if isinstance(block, dict) and block["type"] == "tool_use"]
    assert isinstance(said, str) and said == said.upper() and said != said.lower()
    assert calls[0] == {"COMMAND": "LS -LA"} and len(calls) == 3
    original, final = recorded(sink, events.TRANSACTION_NON_STREAMING_RESPONSE_RECORDED)
    assert text(original) != text(final) == said


async def test_a_responses_object_edited_in_place_reaches_the_client() -> None:
    engine, sink = orchestrator()
    final_request = await engine.process_request(request(stream=False), "t", SPAN)
    served = await engine.apply_responses_response(response("text"), "t", SPAN, final_request)
    [said] = [part["text"] for item in output(served) if item["type"] == "message" for part in item["content"]]
    assert said == said.upper() and said != said.lower()
    original, final = recorded(sink, events.TRANSACTION_NON_STREAMING_RESPONSE_RECORDED)
    assert text(original) != text(final) == said


async def test_a_gateway_tool_call_edited_in_place_runs_as_edited_and_is_recorded_as_asked() -> None:
    engine, sink = orchestrator()
    asked = ToolCall(id="call_1", name="bash", arguments='{"command": "ls"}')
    kept = await engine.check_tool_call(asked, request(), "t", SPAN)
    assert kept is not None and kept.arguments == '{"COMMAND": "LS"}'
    original, final = recorded(sink, events.TRANSACTION_NON_STREAMING_RESPONSE_RECORDED)
    calls = [fields["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] for fields in (original, final)]  # type: ignore[call-overload,index]
    assert calls == ['{"command": "ls"}', '{"COMMAND": "LS"}']


def test_equal_dumps_are_one_object_and_unequal_ones_a_change() -> None:
    fields = request_fields(request())
    assert not revision(request(), fields, request_fields(request())).changed
    assert revision(request(), fields, request_fields(request())).final_fields is fields
    edited = request()
    edited.messages[-1]["content"] = "other"
    assert revision(edited, fields, request_fields(edited)).changed


def test_a_policy_has_a_request_hook_only_when_it_or_a_chain_member_overrides_one() -> None:
    class Counts(SimplePolicy):
        async def on_request_simple(self, request: RequestMessage) -> RequestMessage:
            return request

    patched = PassthroughPolicy()

    async def edit(request: RequestMessage, context: PolicyContext) -> RequestMessage:
        return request

    patched.on_request = edit  # type: ignore[method-assign]
    without = [PassthroughPolicy(), AllCapsPolicy(), BlockToolsPolicy(BlockToolsOptions(tools=["bash"]))]
    assert not any(policy.has_request_hook() for policy in without)
    assert not ChainPolicy(without).has_request_hook()
    assert all(policy.has_request_hook() for policy in (EditsInPlace(), Counts(), patched))
    assert ChainPolicy([PassthroughPolicy(), EditsInPlace()]).has_request_hook()


async def test_a_request_is_dumped_again_only_when_the_policy_has_a_request_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dumps: list[object] = []
    dump = RequestMessage.model_dump

    def counting(self: RequestMessage, **options: Any) -> dict[str, Any]:
        dumps.append(self)
        return dump(self, **options)

    monkeypatch.setattr(RequestMessage, "model_dump", counting)
    await create_default_orchestrator(PassthroughPolicy(), ReplayLLMClient()).revise_request(request(), "t", SPAN)
    assert len(dumps) == 1
    chain = ChainPolicy([PassthroughPolicy(), EditsInPlace()])
    revised = await create_default_orchestrator(chain, ReplayLLMClient()).revise_request(request(), "t", SPAN)
    assert len(dumps) == 3 and revised.changed, "a chain member's in-place edit is obeyed"
