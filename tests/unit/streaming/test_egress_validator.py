from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices

from luthien_litellm_plugin.streaming.egress_validator import validate_stream
from tests.streams import chunk, usage_chunk


def test_well_formed_stream_has_no_violations() -> None:
    stream = [
        chunk("a", role="assistant"),
        chunk(tool_call=(0, "c1", "f", "{}")),
        chunk(finish_reason="tool_calls"),
        usage_chunk(),
    ]
    assert validate_stream(stream) == []


def test_each_rule_is_detected() -> None:
    assert validate_stream([chunk("a"), chunk(finish_reason="stop")]) == ["chunk 0: first chunk has no role"]
    assert validate_stream([chunk("a", role="assistant", finish_reason="stop")]) == [
        "chunk 0: finish_reason in a chunk that also carries content or tool calls"
    ]
    assert validate_stream([chunk("a", role="assistant")]) == ["chunk 1: stream ended without finish_reason"]
    assert validate_stream([chunk(role="assistant", finish_reason="stop"), chunk("late")]) == [
        "chunk 1: chunk with choices after finish_reason"
    ]
    assert validate_stream([chunk(role="assistant"), usage_chunk(), chunk(finish_reason="stop")]) == [
        "chunk 1: usage-only chunk before finish_reason"
    ]
    assert validate_stream(
        [chunk(role="assistant", tool_call=(1, "c", "f", "")), chunk(finish_reason="tool_calls")]
    ) == ["chunk 0: tool call index 1 out of order (expected 0)"]
    assert validate_stream([chunk(role="assistant", tool_call=(0, None, None, "{")), chunk(finish_reason="stop")]) == [
        "chunk 0: first delta of tool call 0 lacks id or name"
    ]
    assert validate_stream([chunk("x", role="assistant"), chunk(finish_reason="tool_calls")]) == [
        "chunk 2: finish_reason 'tool_calls' but no tool call was served"
    ]


def test_custom_and_legacy_tool_calls_are_checked_too() -> None:
    custom = ModelResponseStream(
        id="x",
        choices=[
            StreamingChoices(
                delta=Delta(
                    role="assistant",
                    tool_calls=[{"index": 0, "id": "c", "type": "custom", "custom": {"name": "bash", "input": "ls"}}],
                )
            )
        ],
    )
    assert validate_stream([custom, chunk(finish_reason="tool_calls")]) == []
    legacy = ModelResponseStream(
        id="x",
        choices=[StreamingChoices(delta=Delta(role="assistant", function_call={"name": "f", "arguments": "{}"}))],
    )
    assert validate_stream([legacy, chunk(finish_reason="function_call")]) == []
    assert validate_stream([chunk("x", role="assistant"), chunk(finish_reason="function_call")]) == [
        "chunk 2: finish_reason 'function_call' but no function_call was served"
    ]
