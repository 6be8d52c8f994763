import pytest
from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices

from luthien_litellm_plugin.errors import UnsupportedStreamError
from luthien_litellm_plugin.streaming.stream_blocks import ContentStreamBlock, ToolCallStreamBlock
from luthien_litellm_plugin.streaming.stream_state import StreamState
from luthien_litellm_plugin.streaming.streaming_chunk_assembler import StreamingChunkAssembler
from tests.streams import chunk, iterate, usage_chunk


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, str | None]] = []

    async def __call__(self, item: ModelResponseStream, state: StreamState, context: None) -> None:
        current = state.current_block.id if state.current_block else None
        done = state.just_completed.id if state.just_completed else None
        self.events.append((item.id, current, done))


async def assemble(chunks: list[ModelResponseStream]) -> tuple[StreamingChunkAssembler[None], Log]:
    log = Log()
    assembler = StreamingChunkAssembler(on_chunk_callback=log)
    await assembler.process(iterate(chunks), None)
    return assembler, log


async def test_text_stream_becomes_one_completed_content_block() -> None:
    assembler, _ = await assemble(
        [chunk("", role="assistant"), chunk("Hel"), chunk("lo"), chunk(finish_reason="stop"), usage_chunk()]
    )
    state = assembler.state
    assert [type(b) for b in state.blocks] == [ContentStreamBlock]
    block = state.blocks[0]
    assert isinstance(block, ContentStreamBlock)
    assert block.content == "Hello" and block.is_complete
    assert (block.start_index, block.end_index) == (1, 3)
    assert state.finish_reason == "stop"
    assert state.usage is not None and state.usage.total_tokens == 12
    assert len(state.raw_chunks) == 5  # read past finish_reason, usage included


async def test_text_then_fragmented_tool_calls() -> None:
    assembler, log = await assemble(
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
    completions = [done for _, _, done in log.events if done]
    assert completions == ["content-0", "call_a", "call_b"]


async def test_content_and_finish_reason_in_one_chunk_are_split() -> None:
    assembler, log = await assemble([chunk("Hi", role="assistant"), chunk(" there", finish_reason="stop")])
    raw = assembler.state.raw_chunks
    assert len(raw) == 3
    assert raw[1].choices[0].delta.content == " there" and raw[1].choices[0].finish_reason is None
    assert raw[2].choices[0].delta.content is None and raw[2].choices[0].finish_reason == "stop"
    block = assembler.state.blocks[0]
    assert isinstance(block, ContentStreamBlock) and block.content == "Hi there"
    assert log.events[-1][2] == "content-0"


async def test_empty_content_deltas_do_not_open_blocks() -> None:
    assembler, _ = await assemble(
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


async def test_reasoning_deltas_are_not_content() -> None:
    assembler, _ = await assemble(
        [chunk(reasoning="thinking...", role="assistant"), chunk("Answer"), chunk(finish_reason="stop")]
    )
    blocks = assembler.state.blocks
    assert len(blocks) == 1 and isinstance(blocks[0], ContentStreamBlock) and blocks[0].content == "Answer"
    assert getattr(assembler.state.raw_chunks[0].choices[0].delta, "reasoning_content", None) == "thinking..."


async def test_ids_repeated_on_every_delta_stay_one_call() -> None:
    assembler, _ = await assemble(
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


async def test_stream_ending_without_finish_leaves_block_for_close() -> None:
    assembler, _ = await assemble([chunk("partial")])
    assert assembler.state.current_block is not None
    block = assembler.close_open_block()
    assert isinstance(block, ContentStreamBlock) and block.is_complete
    assert assembler.state.just_completed is block


async def test_more_than_one_choice_is_a_clear_error() -> None:
    two = ModelResponseStream(
        choices=[
            StreamingChoices(index=0, delta=Delta(content="a")),
            StreamingChoices(index=1, delta=Delta(content="b")),
        ]
    )
    with pytest.raises(UnsupportedStreamError, match="n > 1"):
        await assemble([two])
