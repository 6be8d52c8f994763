"""Which policy a request was bound to, carried where a client cannot write it.

The pre-call hook binds each request to the policy it ran (a context variable, so it follows
the request into LiteLLM's router, its fallback attempts and its concurrent comma-list calls,
and into the response hooks; a client controls none of it, unlike the request's metadata).
Before each attempt the router reports the deployment it is about to call, which must belong
to the same policy.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Binding:
    """What the pre-call hook decided for the request being served in this context."""

    transaction_id: str | None
    """Our transaction, when one was opened (None for requests allowed without one)."""
    policy: str
    """The policy that ran on the request; every deployment called must have it."""
    unpoliced: bool = False
    """An operator allowed this route without a policy: any deployment may serve it."""


INTERNAL = Binding(None, "luthien-internal", unpoliced=True)
"""The plugin's own model calls (a policy's judge): any deployment may serve them, and they open
no transaction. Bound only in the task that makes such a call (see `router_client`)."""


@dataclass(frozen=True, slots=True)
class RoutedDeployment:
    """The deployment the router picked for the current attempt."""

    deployment_id: str
    group: str
    policy: str


_binding: ContextVar[Binding | None] = ContextVar("luthien_binding", default=None)
_routed: ContextVar[RoutedDeployment | None] = ContextVar("luthien_routed_deployment", default=None)


def bind(binding: Binding | None) -> None:
    """Bind the request served in this context (None: no request of ours; e.g. refused)."""
    _binding.set(binding)
    _routed.set(None)


def current() -> Binding | None:
    return _binding.get()


def routed(deployment: RoutedDeployment) -> None:
    """Note the deployment the router is about to call in this attempt."""
    _routed.set(deployment)


def current_deployment() -> RoutedDeployment | None:
    return _routed.get()
