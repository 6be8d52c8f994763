from __future__ import annotations

from litellm.types.utils import ModelResponse

from luthien_litellm_plugin import events
from luthien_litellm_plugin.events import InMemoryEventSink
from luthien_litellm_plugin.observability.context import DefaultObservabilityContext
from luthien_litellm_plugin.observability.transaction_recorder import DefaultTransactionRecorder
from luthien_litellm_plugin.orchestration.revision import request_fields, response_fields
from luthien_litellm_plugin.streaming.anthropic_sse import SSEEvent
from luthien_litellm_plugin.streaming.anthropic_validator import AnthropicStreamValidator
from luthien_litellm_plugin.streaming.egress_validator import EgressValidator
from luthien_litellm_plugin.types import RequestMessage
from tests.streams import SPAN, chunk, usage_chunk


def recorder() -> tuple[DefaultTransactionRecorder, InMemoryEventSink]:
    sink = InMemoryEventSink()
    context = DefaultObservabilityContext("txn-1", SPAN, db_pool=sink, labels={"policy": "p", "call_id": "x"})
    return DefaultTransactionRecorder(context, policy_name="p", call_id="litellm-1"), sink


async def test_record_request_keeps_original_and_final_and_scrubs_keys() -> None:
    rec, sink = recorder()
    original = RequestMessage(model="gpt-4", messages=[{"role": "user", "content": "hi"}], api_key="sk-secret")
    final = RequestMessage(model="gpt-4-turbo", messages=[{"role": "user", "content": "HI"}], stream=True)
    await rec.record_request(request_fields(original), request_fields(final))
    [event] = sink.of_type(events.TRANSACTION_REQUEST_RECORDED)
    assert event.payload["original_model"] == "gpt-4" and event.payload["final_model"] == "gpt-4-turbo"
    assert event.payload["original_request"] == {
        "model": "gpt-4",
        "messages": [{"role": "user", "content": "hi"}],
        "api_key": "[redacted]",
    }
    assert event.payload["is_streaming"] is True
    assert "sk-secret" not in repr(sink.events)


async def test_streaming_reconstructs_text_tool_calls_finish_and_usage_both_ways() -> None:
    rec, sink = recorder()
    ingress = [
        chunk("Hel", role="assistant"),
        chunk("lo"),
        chunk(tool_call=(0, "call_1", "f", '{"a"')),
        chunk(tool_call=(0, None, None, ": 1}")),
        chunk(finish_reason="tool_calls"),
        usage_chunk(3, 4),
    ]
    for item in ingress:
        rec.add_ingress_chunk(item)
    for item in (chunk("HELLO", role="assistant"), chunk(finish_reason="stop")):
        rec.add_egress_chunk(item)
    await rec.finalize_streaming()
    await rec.record_completion("success")
    [event] = sink.of_type(events.TRANSACTION_STREAMING_RESPONSE_RECORDED)
    original = event.payload["original_response"]
    final = event.payload["final_response"]
    assert isinstance(original, dict) and isinstance(final, dict)
    assert original["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
                ],
            },
            "finish_reason": "tool_calls",
        }
    ]
    assert final["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "HELLO"}, "finish_reason": "stop"}
    ]
    assert original["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert (event.payload["ingress_chunks"], event.payload["egress_chunks"]) == (6, 2)
    [done] = sink.of_type(events.TRANSACTION_COMPLETED)
    assert done.payload["status"] == "success" and done.payload["policy"] == "p"
    assert done.payload["call_id"] == "litellm-1"
    assert isinstance(done.payload["time_to_first_byte_ms"], float)
    assert [e.sequence for e in sink.events] == [0, 1]


async def test_completion_is_recorded_once_and_last() -> None:
    rec, sink = recorder()
    await rec.record_completion("cancelled", "client disconnected")
    await rec.record_completion("success")
    assert [(e.payload["status"], e.payload["error"]) for e in sink.events] == [("cancelled", "client disconnected")]


async def test_a_malformed_served_stream_is_recorded_as_protocol_violation() -> None:
    rec, sink = recorder()
    validator = EgressValidator()  # the orchestrator's: it feeds the validator what the egress serves
    rec.check_served_stream_with(validator)
    validator.check(chunk("no role first"))
    rec.add_egress_chunk(chunk("no role first"))
    await rec.finalize_streaming()
    await rec.record_completion("success")
    [violation] = sink.of_type(events.STREAM_PROTOCOL_VIOLATION)
    assert violation.payload["violations"] == [
        "chunk 0: first chunk has no role",
        "chunk 1: stream ended without finish_reason",
    ]


async def test_the_wire_validator_of_the_served_format_is_what_is_checked() -> None:
    rec, sink = recorder()
    validator = AnthropicStreamValidator()
    rec.check_served_stream_with(validator)
    rec.add_egress_chunk(chunk("no role first: fine, Anthropic streams are checked on the wire"))
    validator.check(SSEEvent("content_block_start", '{"type":"content_block_start","index":0}', b""))
    await rec.finalize_streaming()
    await rec.record_completion("success")
    [violation] = sink.of_type(events.STREAM_PROTOCOL_VIOLATION)
    assert violation.payload["violations"] == [
        "event 0: content_block_start before message_start",
        "event 1: stream ended without message_stop",
    ]


async def test_non_streaming_records_both_responses() -> None:
    rec, sink = recorder()
    original = ModelResponse(choices=[{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}])
    final = ModelResponse(choices=[{"message": {"role": "assistant", "content": "HI"}, "finish_reason": "stop"}])
    await rec.finalize_non_streaming(response_fields(original), response_fields(final))
    [event] = sink.events
    assert event.event_type == events.TRANSACTION_NON_STREAMING_RESPONSE_RECORDED
    payload = event.payload
    assert isinstance(payload["final_response"], dict)
    assert payload["final_response"]["choices"][0]["message"]["content"] == "HI"  # type: ignore[index,call-overload]
    assert payload["original_finish_reason"] == payload["final_finish_reason"] == "stop"
