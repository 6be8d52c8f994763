"""Routes the plugin does not cover, and router attempts on deployments of another policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from fastapi import HTTPException
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.utils import ModelResponse

from luthien_litellm_plugin.errors import RouteRefusedError
from luthien_litellm_plugin.events import (
    DEPLOYMENT_REFUSED,
    ROUTE_REFUSED,
    ROUTE_UNPOLICED,
    TRANSACTION_COMPLETED,
    InMemoryEventSink,
)
from luthien_litellm_plugin.proxy import binding
from luthien_litellm_plugin.proxy.deployment_policies import DeploymentPolicies
from luthien_litellm_plugin.proxy.plugin import LuthienCallback
from luthien_litellm_plugin.proxy.settings import load_plugin_config
from tests.unit.proxy.test_plugin import data, statuses

KEY = UserAPIKeyAuth()
GROUPS = {"loud": "shout", "quiet": "passthrough", "other-quiet": "calm"}


def deployment(group: str, deployment_id: str, model: str = "openai/gpt-4o") -> dict[str, object]:
    return {"model_name": group, "litellm_params": {"model": model}, "model_info": {"id": deployment_id}}


class FakeRouter:
    """Resolves names like LiteLLM's router: groups, an alias, deployment ids."""

    def __init__(self) -> None:
        self.model_list: list[object] = [
            deployment("loud", "dep-loud"),
            deployment("quiet", "dep-quiet", "openai/gpt-4o-mini"),
            deployment("other-quiet", "dep-other-quiet"),
        ]
        self.aliases = {"alias-loud": "loud"}

    def get_routable_deployments(self, model: str) -> Sequence[Mapping[str, object]]:
        group = self.aliases.get(model, model)
        found = [d for d in self.model_list if isinstance(d, dict) and d["model_name"] == group]
        by_id = [d for d in self.model_list if isinstance(d, dict) and d["model_info"]["id"] == model]
        return found or by_id


def plugin(**settings: object) -> tuple[LuthienCallback, InMemoryEventSink]:
    config = load_plugin_config(
        {"policies": {"shout": {"class": "all_caps"}, "calm": {"class": "passthrough"}}, **settings}
    )
    sink = InMemoryEventSink()
    callback = LuthienCallback(config, GROUPS, sink)
    router = FakeRouter()
    callback.deployments = DeploymentPolicies(GROUPS, "passthrough", config.policies, lambda: router)
    return callback, sink


def with_path(request: dict[str, object], path: str) -> dict[str, object]:
    server_request = request["proxy_server_request"]
    assert isinstance(server_request, dict)
    server_request["url"] = f"http://127.0.0.1:4000{path}"
    return request


@pytest.mark.parametrize("model", ["loud", "alias-loud", "dep-loud"])
async def test_an_uncovered_route_on_a_policed_model_is_refused_and_recorded(model: str) -> None:
    callback, sink = plugin()
    request = with_path(data(model), "/v1/embeddings")
    with pytest.raises(HTTPException) as refused:
        await callback.async_pre_call_hook(KEY, None, request, "aembedding")
    assert refused.value.status_code == 400 and getattr(refused.value, "type", None) == "policy_blocked"
    detail = refused.value.detail
    assert isinstance(detail, dict)
    assert "/v1/embeddings" in str(detail["error"]) and "not covered" in str(detail["error"])
    [event] = sink.of_type(ROUTE_REFUSED)
    assert event.payload["route"] == "/v1/embeddings" and event.payload["call_type"] == "aembedding"
    assert event.payload["policy"] == "shout"
    assert statuses(sink) == ["blocked"]
    assert binding.current() is None
    assert all(o.open_transactions == 0 for o in callback.orchestrators.values())


async def test_an_uncovered_route_on_a_passthrough_model_passes_unrecorded() -> None:
    callback, sink = plugin()
    request = data("quiet")
    assert await callback.async_pre_call_hook(KEY, None, request, "aembedding") is request
    assert sink.events == []
    bound = binding.current()
    assert bound is not None and bound.policy == "passthrough" and bound.transaction_id is None


async def test_a_route_without_a_model_is_refused_while_any_policy_acts() -> None:
    callback, sink = plugin()
    request = with_path({"proxy_server_request": {"body": {}, "url": "x"}, "metadata": {}}, "/anthropic/v1/messages")
    with pytest.raises(HTTPException):
        await callback.async_pre_call_hook(KEY, None, request, "pass_through_endpoint")
    assert statuses(sink) == ["blocked"]


async def test_an_allowed_unpoliced_route_is_recorded_as_such() -> None:
    callback, sink = plugin(unpoliced_routes=["/v1/embeddings", "atext_completion"])
    for call_type, path in (("aembedding", "/v1/embeddings"), ("atext_completion", "/v1/completions")):
        request = with_path(data("loud"), path)
        assert await callback.async_pre_call_hook(KEY, None, request, call_type) is request
        response = ModelResponse(choices=[{"message": {"role": "assistant", "content": "quiet"}}])
        assert await callback.async_post_call_success_hook(request, KEY, response) is response
    assert [e.payload["route"] for e in sink.of_type(ROUTE_UNPOLICED)] == ["/v1/embeddings", "/v1/completions"]
    assert statuses(sink) == ["success", "success"]
    assert all(o.open_transactions == 0 for o in callback.orchestrators.values())


def test_unknown_unpoliced_routes_refuse_start_up_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"callback_settings\.luthien\.unpoliced_routes"):
        load_plugin_config({"unpoliced_routes": ["embeddings"]})


async def test_a_comma_list_across_policies_is_refused() -> None:
    callback, sink = plugin()
    with pytest.raises(HTTPException) as refused:
        await callback.async_pre_call_hook(KEY, None, data("quiet,loud"), "acompletion")
    assert "different policies" in str(refused.value.detail)
    assert statuses(sink) == ["blocked"]


async def test_a_comma_list_of_passthrough_groups_is_served() -> None:
    callback, _ = plugin()
    await callback.async_pre_call_hook(KEY, None, data("quiet,other-quiet"), "acompletion")
    bound = binding.current()
    assert bound is not None and callback.is_passthrough(bound.policy)


async def test_an_alias_gets_the_policy_of_the_group_it_names() -> None:
    callback, _ = plugin()
    request = data("alias-loud")
    await callback.async_pre_call_hook(KEY, None, request, "acompletion")
    bound = binding.current()
    assert bound is not None and bound.policy == "shout"


async def test_a_router_attempt_on_a_deployment_of_another_policy_is_refused() -> None:
    callback, sink = plugin()
    await callback.async_pre_call_hook(KEY, None, data("quiet"), "acompletion")
    assert await callback.async_pre_call_check(deployment("other-quiet", "dep-other-quiet"), None) is None
    with pytest.raises(RouteRefusedError, match="uses policy 'shout'"):
        await callback.async_pre_call_check(deployment("loud", "dep-loud"), None)
    [event] = sink.of_type(DEPLOYMENT_REFUSED)
    assert event.payload["deployment_id"] == "dep-loud" and event.payload["policy"] == "shout"
    assert sink.of_type(TRANSACTION_COMPLETED) == []  # a later fallback attempt may still serve it


async def test_a_policed_deployment_called_outside_a_covered_route_is_refused() -> None:
    callback, _ = plugin()
    binding.bind(None)
    assert await callback.async_pre_call_check(deployment("quiet", "dep-quiet"), None) is None
    with pytest.raises(RouteRefusedError, match="did not come through a route"):
        await callback.async_pre_call_check(deployment("loud", "dep-loud"), None)


async def test_a_model_call_outside_the_router_gets_the_default_policy() -> None:
    callback, sink = plugin()
    await callback.async_pre_call_hook(KEY, None, data("loud"), "acompletion")
    with pytest.raises(RouteRefusedError, match="outside LiteLLM's router"):
        await callback.async_pre_call_deployment_hook({"model": "openai/gpt-4o"}, "acompletion")
    assert len(sink.of_type(DEPLOYMENT_REFUSED)) == 1
    await callback.async_pre_call_check(deployment("loud", "dep-loud"), None)
    assert await callback.async_pre_call_deployment_hook({"model": "openai/gpt-4o"}, "acompletion") is None


async def test_a_response_whose_transaction_marks_were_forged_is_refused() -> None:
    callback, _ = plugin()
    binding.bind(None)
    request = data("loud")
    request["metadata"] = {"luthien_transaction_id": "forged", "luthien_policy": "passthrough"}
    response = ModelResponse(choices=[{"message": {"role": "assistant", "content": "quiet"}}])
    with pytest.raises(HTTPException):
        await callback.async_post_call_success_hook(request, KEY, response)
