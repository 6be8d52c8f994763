from litellm.types.utils import ModelResponse

from luthien_litellm_plugin.llm.litellm_client import LiteLLMClient
from luthien_litellm_plugin.types import RequestMessage

REQUEST = RequestMessage(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


async def test_stream_yields_litellm_chunks_for_the_request() -> None:
    client = LiteLLMClient(mock_response="streamed reply")
    chunks = [chunk async for chunk in client.stream(REQUEST)]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed reply"
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_complete_returns_a_model_response() -> None:
    response = await LiteLLMClient(mock_response="whole reply").complete(REQUEST)
    assert isinstance(response, ModelResponse)
    assert response.choices[0].message.content == "whole reply"  # type: ignore[union-attr]
