import pytest
from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices

from luthien_litellm_plugin.chunks import split_chunk
from luthien_litellm_plugin.errors import UnsupportedStreamError
from luthien_litellm_plugin.streaming.assembler import StreamingChunkAssembler
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock, ToolCallStreamBlock
from tests.streams import chunk, usage_chunk


def assemble(
    chunks: list[ModelResponseStream], assembler: StreamingChunkAssembler | None = None
) -> tuple[StreamingChunkAssembler, list[list[str]]]:
    """Feed the (split) chunks; returns the assembler and the ids each part completed."""
    assembler = assembler or StreamingChunkAssembler()
    completions: list[list[str]] = []
    for item in chunks:
        for part in split_chunk(item):
            completions.append([block.id for block in assembler.add(part)])
    return assembler, completions


def test_text_stream_becomes_one_completed_content_block() -> None:
    assembler, _ = assemble(
        [chunk("", role="assistant"), chunk("Hel"), chunk("lo"), chunk(finish_reason="stop"), usage_chunk()]
    )
    state = assembler.state
    assert [type(b) for b in state.blocks] == [ContentStreamBlock]
    block = state.blocks[0]
    assert isinstance(block, ContentStreamBlock)
    assert block.content == "Hello" and block.is_complete and block.last_delta == "lo"
    assert block.parts == [1, 2] and (block.start_index, block.end_index) == (1, 3)
    assert state.owners == [None, block, block, None, None]
    assert state.finish_reason == "stop"
    assert state.usage is not None and state.usage.total_tokens == 12
    assert len(state.raw_chunks) == 5  # read past finish_reason, usage included


def test_text_completes_when_a_tool_call_starts_and_tool_calls_complete_together_at_finish() -> None:
    assembler, completions = assemble(
        [
            chunk("Let me check.", role="assistant"),
            chunk(tool_call=(0, "call_a", "get_weather", "")),
            chunk(tool_call=(0, None, None, '{"loc')),
            chunk(tool_call=(0, None, None, '": "Paris"}')),
            chunk(tool_call=(1, "call_b", "bash", '{"command"')),
            chunk(tool_call=(1, None, None, ': "ls"}')),
            chunk(finish_reason="tool_calls"),
        ]
    )
    blocks = assembler.state.blocks
    assert [type(b) for b in blocks] == [ContentStreamBlock, ToolCallStreamBlock, ToolCallStreamBlock]
    first, second = blocks[1], blocks[2]
    assert isinstance(first, ToolCallStreamBlock) and isinstance(second, ToolCallStreamBlock)
    assert first.tool_call.model_dump() == {
        "id": "call_a",
        "name": "get_weather",
        "arguments": '{"loc": "Paris"}',
        "type": "function",
    }
    assert (second.id, second.name, second.arguments) == ("call_b", "bash", '{"command": "ls"}')
    assert [c for c in completions if c] == [["content-0"], ["call_a", "call_b"]]


def test_interleaved_parallel_tool_calls_are_kept_apart_by_upstream_index() -> None:
    assembler, _ = assemble(
        [
            chunk(tool_call=(0, "call_a", "get_weather", ""), role="assistant"),
            chunk(tool_call=(1, "call_b", "bash", "")),
            chunk(tool_call=(0, None, None, '{"loc": ')),
            chunk(tool_call=(1, None, None, '{"command": ')),
            chunk(tool_call=(0, None, None, '"Paris"}')),
            chunk(tool_call=(1, None, None, '"ls"}')),
            chunk(finish_reason="tool_calls"),
        ]
    )
    first, second = assembler.state.blocks
    assert isinstance(first, ToolCallStreamBlock) and isinstance(second, ToolCallStreamBlock)
    assert (first.id, first.name, first.arguments, first.parts) == (
        "call_a",
        "get_weather",
        '{"loc": "Paris"}',
        [0, 2, 4],
    )
    assert (second.id, second.name, second.arguments, second.parts) == (
        "call_b",
        "bash",
        '{"command": "ls"}',
        [1, 3, 5],
    )


def test_a_delta_for_a_tool_call_that_already_completed_is_refused() -> None:
    with pytest.raises(UnsupportedStreamError, match="tool call 0 arrived after it completed"):
        assemble(
            [
                chunk(tool_call=(0, "call_a", "f", "{")),
                chunk("text after the call"),
                chunk(tool_call=(0, None, None, '"late": 1}')),
            ]
        )


def test_content_and_finish_reason_in_one_chunk_are_split() -> None:
    assembler, completions = assemble([chunk("Hi", role="assistant"), chunk(" there", finish_reason="stop")])
    raw = assembler.state.raw_chunks
    assert len(raw) == 3
    assert raw[1].choices[0].delta.content == " there" and raw[1].choices[0].finish_reason is None
    assert raw[2].choices[0].delta.content is None and raw[2].choices[0].finish_reason == "stop"
    block = assembler.state.blocks[0]
    assert isinstance(block, ContentStreamBlock) and block.content == "Hi there"
    assert completions[-1] == ["content-0"]


def test_empty_content_deltas_do_not_open_blocks() -> None:
    assembler, _ = assemble(
        [
            chunk("", role="assistant"),
            chunk(tool_call=(0, "call_a", "f", "")),
            chunk(""),
            chunk(tool_call=(0, None, None, "{}")),
            chunk(""),
            chunk(finish_reason="tool_calls"),
        ]
    )
    blocks = assembler.state.blocks
    assert [type(b) for b in blocks] == [ToolCallStreamBlock]
    assert isinstance(blocks[0], ToolCallStreamBlock) and blocks[0].arguments == "{}"


def test_reasoning_deltas_are_not_content() -> None:
    assembler, _ = assemble(
        [chunk(reasoning="thinking...", role="assistant"), chunk("Answer"), chunk(finish_reason="stop")]
    )
    blocks = assembler.state.blocks
    assert len(blocks) == 1 and isinstance(blocks[0], ContentStreamBlock) and blocks[0].content == "Answer"
    assert getattr(assembler.state.raw_chunks[0].choices[0].delta, "reasoning_content", None) == "thinking..."


def test_ids_repeated_on_every_delta_stay_one_call() -> None:
    assembler, _ = assemble(
        [
            chunk(tool_call=(0, "toolu_1", "f", "")),
            chunk(tool_call=(0, "toolu_1", None, '{"a"')),
            chunk(tool_call=(0, "toolu_1", None, ": 1}")),
            chunk(finish_reason="tool_calls"),
        ]
    )
    blocks = assembler.state.blocks
    assert len(blocks) == 1
    assert isinstance(blocks[0], ToolCallStreamBlock) and blocks[0].arguments == '{"a": 1}'


def test_stream_ending_without_finish_leaves_blocks_for_close() -> None:
    assembler, _ = assemble([chunk("partial")])
    block = assembler.state.current_block
    assert isinstance(block, ContentStreamBlock) and not block.is_complete
    assert assembler.close() == [block] and block.is_complete
    assert assembler.close() == []


def test_blocks_of_kinds_the_policy_does_not_own_are_decided_pass_at_once() -> None:
    assembler = StreamingChunkAssembler(owns_content=False, owns_tool_calls=True)
    assemble([chunk("text"), chunk(tool_call=(0, "c", "f", "{}"))], assembler)
    text, call = assembler.state.blocks
    assert (text.decision, call.decision) == ("pass", "undecided")


def test_more_than_one_choice_is_a_clear_error() -> None:
    two = ModelResponseStream(
        choices=[
            StreamingChoices(index=0, delta=Delta(content="a")),
            StreamingChoices(index=1, delta=Delta(content="b")),
        ]
    )
    with pytest.raises(UnsupportedStreamError, match="n > 1"):
        assemble([two])
