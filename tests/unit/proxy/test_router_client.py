"""A policy's own model call (a judge) inside the proxy: through the router, as an internal call."""

from __future__ import annotations

import pytest
from litellm.proxy import proxy_server
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.utils import ModelResponse

from luthien_litellm_plugin.errors import RouteRefusedError
from luthien_litellm_plugin.events import TRANSACTION_REQUEST_RECORDED, InMemoryEventSink
from luthien_litellm_plugin.proxy import binding
from luthien_litellm_plugin.proxy.plugin import LuthienCallback
from luthien_litellm_plugin.proxy.router_client import RouterLLMClient
from luthien_litellm_plugin.proxy.settings import load_plugin_config
from luthien_litellm_plugin.types import RequestMessage
from tests.streams import chunk, iterate
from tests.unit.proxy.test_plugin import data

JUDGE_DEPLOYMENT = {
    "model_name": "judge",
    "litellm_params": {"model": "openai/judge"},
    "model_info": {"id": "dep-judge"},
}
GUARDED_DEPLOYMENT = {"model_name": "guarded", "litellm_params": {"model": "openai/g"}, "model_info": {"id": "dep-g"}}
CONFIG = {"policies": {"judged": {"class": "tool_call_judge", "options": {"judge_model": "judge"}}}}


class CheckingRouter:
    """Like LiteLLM's router: reports each deployment it calls to the plugin before calling it."""

    def __init__(self, callback: LuthienCallback) -> None:
        self.callback = callback
        self.calls: list[dict[str, object]] = []

    def get_routable_deployments(self, model: str) -> list[dict[str, object]]:
        return [d for d in (JUDGE_DEPLOYMENT, GUARDED_DEPLOYMENT) if d["model_name"] == model]

    async def acompletion(self, **kwargs: object) -> ModelResponse:
        await self.callback.async_pre_call_check(JUDGE_DEPLOYMENT, None)
        self.calls.append(kwargs)
        answer = '{"probability": 0.99, "explanation": "deletes everything"}'
        return ModelResponse(choices=[{"index": 0, "message": {"role": "assistant", "content": answer}}])


@pytest.fixture
def callback(monkeypatch: pytest.MonkeyPatch) -> tuple[LuthienCallback, CheckingRouter, InMemoryEventSink]:
    sink = InMemoryEventSink()
    callback = LuthienCallback(load_plugin_config(CONFIG), {"guarded": "judged"}, sink)
    router = CheckingRouter(callback)
    monkeypatch.setattr(proxy_server, "llm_router", router)
    return callback, router, sink


async def test_a_judge_call_from_inside_a_request_is_an_internal_call(
    callback: tuple[LuthienCallback, CheckingRouter, InMemoryEventSink],
) -> None:
    plugin, router, _ = callback
    binding.bind(binding.Binding("txn", "judged"))
    with pytest.raises(RouteRefusedError):  # the request itself may not reach the judge's (passthrough) group
        await plugin.async_pre_call_check(JUDGE_DEPLOYMENT, None)
    response = await RouterLLMClient().complete(
        RequestMessage(model="judge", messages=[{"role": "user", "content": "?"}])
    )
    assert response.choices[0].message.content.startswith('{"probability"')  # type: ignore[union-attr]
    assert router.calls[0]["model"] == "judge" and router.calls[0]["stream"] is False
    assert binding.current() == binding.Binding("txn", "judged")  # the request's own binding is untouched


async def test_a_judged_stream_in_the_proxy_calls_the_judge_through_the_router_without_a_transaction(
    callback: tuple[LuthienCallback, CheckingRouter, InMemoryEventSink],
) -> None:
    plugin, router, sink = callback
    request = data("guarded", stream=True)
    await plugin.async_pre_call_hook(UserAPIKeyAuth(), None, request, "acompletion")
    chunks = [chunk("ok", role="assistant"), chunk(tool_call=(0, "c", "bash", '{"command": "rm -rf /"}'))]
    chunks.append(chunk(finish_reason="tool_calls"))
    stream = plugin.async_post_call_streaming_iterator_hook(UserAPIKeyAuth(), iterate(chunks), request)
    served = [item async for item in stream]
    text = "".join(item.choices[0].delta.content or "" for item in served if not isinstance(item, bytes))
    assert "[judged: blocked a call to 'bash' (probability 0.99): deletes everything]" in text
    assert len(router.calls) == 1
    assert len(sink.of_type(TRANSACTION_REQUEST_RECORDED)) == 1  # the client's request, nothing for the judge
