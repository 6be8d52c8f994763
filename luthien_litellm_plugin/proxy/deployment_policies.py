"""Which policy applies to a request: the one of the deployment LiteLLM's router calls.

A client's `model` string is only a request. The router resolves it (model groups, aliases,
deployment ids, wildcards, comma lists, `specific_deployment`, fallbacks) after the pre-call
hook. So the policy is looked up from router deployments, never from the string itself: at
pre-call from every deployment the router could pick, and again, authoritatively, from the
deployment each attempt actually calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from luthien_litellm_plugin.proxy.model_policies import POLICY_KEY

Deployment = Mapping[str, object]


class Router(Protocol):
    """The parts of `litellm.Router` the resolution reads."""

    model_list: list[object]

    def get_routable_deployments(self, model: str) -> Sequence[Mapping[str, object]]: ...


def proxy_router() -> Router | None:
    """The running proxy's router (None outside the proxy, or before it loaded its config)."""
    try:
        from litellm.proxy import proxy_server
    except ImportError:  # litellm without the proxy extra
        return None
    router: Router | None = getattr(proxy_server, "llm_router", None)
    return router


class DeploymentPolicies:
    """Maps router deployments to policy names.

    `by_group` comes from `model_list[*].model_info.luthien_policy` (validated at start-up). A
    deployment of a group the configuration file did not list (added at run time) uses its own
    `model_info.luthien_policy` when that names a known policy, else the default.
    """

    def __init__(
        self,
        by_group: Mapping[str, str],
        default: str,
        known: Iterable[str],
        router: Callable[[], Router | None] = proxy_router,
    ) -> None:
        self.by_group = dict(by_group)
        self.default = default
        self.known = frozenset(known)
        self._router = router

    def of_deployment(self, deployment: Deployment) -> str:
        """The policy of one router deployment (a `model_list` entry)."""
        group = deployment.get("model_name")
        if isinstance(group, str) and group in self.by_group:
            return self.by_group[group]
        model_info = deployment.get("model_info")
        named = model_info.get(POLICY_KEY) if isinstance(model_info, Mapping) else None
        return named if isinstance(named, str) and named in self.known else self.default

    def of_request(self, model: str, *, comma_list: bool, specific_deployment: bool) -> frozenset[str]:
        """The policies of every deployment the router could serve `model` from.

        Empty when the router knows no deployment for it (LiteLLM then refuses the model, or
        calls it outside the router; the deployment check covers that case). Without a router
        (no proxy running) model names are looked up as configured group names.
        """
        names = [name.strip() for name in model.split(",")] if comma_list else [model]
        router = self._router()
        if router is None:
            return frozenset(self.by_group[name] for name in names if name in self.by_group)
        return frozenset(
            self.of_deployment(deployment)
            for name in names
            for deployment in _candidates(router, name, specific_deployment)
        )


def _candidates(router: Router, model: str, specific_deployment: bool) -> list[Deployment]:
    if specific_deployment:  # the router then matches deployments by their provider model string
        return [d for d in _deployments(router) if _litellm_model(d) == model]
    try:
        return [*router.get_routable_deployments(model)]
    except Exception:  # an unknown name: the router will refuse it the same way
        return []


def _deployments(router: Router) -> list[Deployment]:
    return [d for d in router.model_list if isinstance(d, Mapping)]


def _litellm_model(deployment: Deployment) -> object:
    params = deployment.get("litellm_params")
    return params.get("model") if isinstance(params, Mapping) else None
