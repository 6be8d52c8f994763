"""What the plugin relies on in LiteLLM, checked against the installed LiteLLM at start-up.

LiteLLM calls the plugin only under conditions any LiteLLM release may change: the proxy calls
some hooks only when the registered object's own class defines them, the router reports each
deployment it is about to call, LiteLLM's `client` wrapper calls the deployment hook, and the
streaming iterator hook gets `ModelResponseStream` chunks on chat and raw SSE `bytes` on
`/v1/messages`. A LiteLLM that breaks one of these would serve requests without running their
policies, and say nothing. The proxy refuses to start instead (`ConfigError`).

The checks read LiteLLM's classes, signatures, type annotations and code objects; none makes
a request. They name LiteLLM internals as they are in the tested versions.
"""

from __future__ import annotations

import collections.abc
import inspect
import logging
import typing
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from types import CodeType
from typing import TYPE_CHECKING

import litellm
from litellm.integrations.custom_logger import CustomLogger
from litellm.types.utils import CallTypes, ModelResponseStream
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from luthien_litellm_plugin.proxy.coverage import (
    COMMA_LIST_CALL_TYPES,
    COVERED_APIS,
    MCP_TOOL_CALL_TYPE,
    PASS_THROUGH_CALL_TYPE,
)
from luthien_litellm_plugin.proxy.settings import ConfigError

if TYPE_CHECKING:
    from litellm.proxy.utils import _CallbackCapabilities

TESTED_LITELLM = ">=1.108.0,<1.108.8"
"""The LiteLLM versions the test suite passes on; pyproject.toml declares the same range."""

LEAF_CLASS_HOOKS = (
    "async_pre_call_hook",
    "async_post_call_streaming_iterator_hook",
    "async_post_call_response_headers_hook",
)
"""Hooks LiteLLM's proxy calls only when `type(callback).__dict__` defines them."""

CALLED_HOOKS = (
    *LEAF_CLASS_HOOKS,
    "async_post_call_success_hook",
    "async_post_call_failure_hook",
    "async_pre_call_check",
    "async_pre_call_deployment_hook",
)
"""Every LiteLLM hook the plugin overrides."""

DISPATCHED_CALL_TYPES = frozenset({*COVERED_APIS, *COMMA_LIST_CALL_TYPES, PASS_THROUGH_CALL_TYPE, MCP_TOOL_CALL_TYPE})
"""The `call_type` values the plugin's pre-call hook tells apart."""

PRE_CALL_CHECKS = "async_routing_strategy_pre_call_checks"
"""The router method that calls `async_pre_call_check` on every callback for one attempt."""

Check = Callable[[CustomLogger], Iterator[str]]
"""Yields what the installed LiteLLM does not do as the plugin relies on."""

logger = logging.getLogger("luthien_litellm_plugin")


def check_litellm_contract(callback: CustomLogger) -> None:
    """Raise `ConfigError` (the proxy refuses to start) when the installed LiteLLM would not call
    `callback` the way the plugin relies on; the message names the version and what is missing."""
    installed = litellm_version()
    problems = contract_problems(callback)
    if problems:
        raise ConfigError(
            f"LiteLLM {installed} does not call the luthien plugin the way it relies on, so its policies "
            f"would not run (tested with litellm{TESTED_LITELLM}):\n  - " + "\n  - ".join(problems)
        )
    if not _in_tested_range(installed):
        message = "luthien: LiteLLM %s is outside the tested range %s; the contract checks passed"
        logger.warning(message, installed, TESTED_LITELLM)


def litellm_version() -> str:
    try:
        return version("litellm")
    except PackageNotFoundError:
        return "(version unknown)"


def contract_problems(callback: CustomLogger) -> list[str]:
    """Every contract point the installed LiteLLM breaks for `callback`; empty when all hold."""
    problems: list[str] = []
    for check in CHECKS:
        try:
            problems.extend(check(callback))
        except (ImportError, AttributeError, NameError, TypeError) as error:  # what the check reads moved or changed
            problems.append(f"{check.__name__}: cannot inspect LiteLLM ({type(error).__name__}: {error})")
    return problems


def proxy_selects_leaf_hooks(callback: CustomLogger) -> Iterator[str]:
    """LiteLLM's proxy decides which callbacks have a pre-call, iterator or response-headers hook
    from `type(callback).__dict__` (`ProxyLogging` capabilities): ask it about `callback`."""
    cls = type(callback)
    capabilities = _proxy_capabilities(callback)
    selected = {
        "async_pre_call_hook": capabilities.has_pre_call_override,
        "async_post_call_streaming_iterator_hook": any(
            found is callback and kind == "override" for found, kind in capabilities.iterator_overrides
        ),
        "async_post_call_response_headers_hook": capabilities.has_post_call_response_headers,
    }
    for hook in LEAF_CLASS_HOOKS:
        if hook not in cls.__dict__:
            yield f"{cls.__name__} does not define {hook} on its own class (the proxy ignores inherited ones)"
        elif not selected[hook]:
            yield f"the proxy would not call {cls.__name__}.{hook} (ProxyLogging's hook detection does not select it)"


def hook_signatures_match(callback: CustomLogger) -> Iterator[str]:
    """LiteLLM passes hook arguments by the names `CustomLogger` declares: ours must take them."""
    cls = type(callback)
    for hook in CALLED_HOOKS:
        base = getattr(CustomLogger, hook, None)
        if base is None:
            yield f"CustomLogger has no {hook}: LiteLLM no longer calls it"
            continue
        expected = inspect.signature(base).parameters
        ours = inspect.signature(getattr(cls, hook)).parameters
        if not _takes(ours, expected):
            yield f"LiteLLM calls {hook}({_names(expected)}); {cls.__name__}.{hook} takes ({_names(ours)})"


def router_reports_each_deployment(callback: CustomLogger) -> Iterator[str]:
    """Each router attempt (fallbacks included) runs the pre-call checks, which call
    `async_pre_call_check(deployment, …)` on every callback: the plugin's deployment binding."""
    from litellm.router import Router

    if not {"callbacks", "async_pre_call_check"} <= _names_used(getattr(Router, PRE_CALL_CHECKS)):
        yield f"Router.{PRE_CALL_CHECKS} no longer calls async_pre_call_check on litellm.callbacks"
    for attempt in ("_acompletion", "_ageneric_api_call_with_fallbacks_helper"):
        if not _runs(Router, attempt, PRE_CALL_CHECKS):
            yield f"Router.{attempt} (one attempt at a deployment) no longer runs Router.{PRE_CALL_CHECKS}"


def client_calls_deployment_hook(callback: CustomLogger) -> Iterator[str]:
    """LiteLLM's `client` wrapper (around `litellm.acompletion`, `litellm.anthropic_messages`, …)
    calls `async_pre_call_deployment_hook` on every callback before a provider call."""
    from litellm import utils

    hook = "async_pre_call_deployment_hook"
    if not {"callbacks", hook} <= _names_used(utils.async_pre_call_deployment_hook):
        yield f"litellm.utils.{hook} no longer calls {hook} on litellm.callbacks"
    wrapper_code = set(_codes(utils.client))
    if not any(hook in code.co_names for code in wrapper_code):
        yield f"litellm.utils.client no longer calls {hook}"
    for name in ("acompletion", "anthropic_messages"):
        if wrapper_code.isdisjoint(_codes(getattr(litellm, name))):
            yield f"litellm.{name} is no longer wrapped by litellm.utils.client (which calls {hook})"


def call_types_exist(callback: CustomLogger) -> Iterator[str]:
    """The call types the pre-call hook dispatches on are LiteLLM's."""
    missing = sorted(DISPATCHED_CALL_TYPES - {call_type.value for call_type in CallTypes})
    if missing:
        yield f"litellm.types.utils.CallTypes has no {', '.join(missing)}"


def stream_item_types(callback: CustomLogger) -> Iterator[str]:
    """What the streaming iterator hook is handed: the stream LiteLLM returned for the route, as
    declared by its stream classes. Chat: `ModelResponseStream`; `/v1/messages`: SSE `bytes`,
    from a native Anthropic upstream or translated from chat completions or the Responses API."""
    from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper
    from litellm.llms.anthropic.pass_through.adapters.streaming_iterator import AnthropicStreamWrapper
    from litellm.llms.anthropic.pass_through.messages.streaming_iterator import AnthropicMessagesStreamingResponse
    from litellm.llms.anthropic.pass_through.responses_adapters.streaming_iterator import (
        AnthropicResponsesStreamWrapper,
    )

    if _items_of(CustomStreamWrapper) is not ModelResponseStream:
        yield "chat streams (CustomStreamWrapper) no longer yield ModelResponseStream"
    if _items_of(AnthropicMessagesStreamingResponse) is not bytes:
        yield "/v1/messages streams from Anthropic upstreams no longer yield bytes"
    translated = (("chat completions", AnthropicStreamWrapper), ("the Responses API", AnthropicResponsesStreamWrapper))
    for source, wrapper in translated:
        if _items_of(_returned(wrapper.async_anthropic_sse_wrapper)) is not bytes:
            yield f"/v1/messages streams translated from {source} no longer yield bytes"


CHECKS: tuple[Check, ...] = (
    proxy_selects_leaf_hooks,
    hook_signatures_match,
    router_reports_each_deployment,
    client_calls_deployment_hook,
    call_types_exist,
    stream_item_types,
)


def _proxy_capabilities(callback: CustomLogger) -> _CallbackCapabilities:
    """LiteLLM's own per-hook detection, run over `callback` alone. The proxy's callback list and
    its capability cache are restored before anything else can run (no await in between)."""
    from litellm.proxy.utils import ProxyLogging

    cache = ProxyLogging._callback_capabilities_cache
    saved_callbacks, saved_cache = litellm.callbacks, dict(cache)
    litellm.callbacks = [callback]
    try:
        return ProxyLogging._callback_capabilities()
    finally:
        litellm.callbacks = saved_callbacks
        cache.clear()
        cache.update(saved_cache)


def _codes(function: object) -> list[CodeType]:
    """The code objects of a function, of the functions it wraps, and of those defined inside them."""
    todo: list[CodeType] = []
    current: object = function
    while current is not None:
        code = getattr(getattr(current, "__func__", current), "__code__", None)
        if isinstance(code, CodeType):
            todo.append(code)
        current = getattr(current, "__wrapped__", None)
    found: list[CodeType] = []
    while todo:
        code = todo.pop()
        found.append(code)
        todo.extend(const for const in code.co_consts if isinstance(const, CodeType))
    return found


def _names_used(function: object) -> frozenset[str]:
    """The global and attribute names a function's code uses."""
    return frozenset(name for code in _codes(function) for name in code.co_names)


def _runs(owner: type, method: str, target: str) -> bool:
    """Whether `owner.method` uses the name `target`, itself or in a method of `owner` it uses."""
    names = _names_used(getattr(owner, method))
    helpers = (getattr(owner, name) for name in names if callable(getattr(owner, name, None)))
    return target in names or any(target in _names_used(helper) for helper in helpers)


def _takes(ours: Mapping[str, inspect.Parameter], expected: Mapping[str, inspect.Parameter]) -> bool:
    """Whether a hook with parameters `ours` can be called with `expected`'s, by position or name."""
    extra = list(ours.values())[len(expected) :]
    optional = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return list(ours)[: len(expected)] == list(expected) and all(
        parameter.default is not parameter.empty or parameter.kind in optional for parameter in extra
    )


def _names(parameters: Mapping[str, inspect.Parameter]) -> str:
    return ", ".join(list(parameters)[1:])  # without `self`


def _returned(function: object) -> object:
    return typing.get_type_hints(function).get("return")


def _items_of(stream_type: object) -> object:
    """The item type of `AsyncIterator[X]`, `AsyncGenerator[X, …]`, or a class whose `__anext__` returns X."""
    if typing.get_origin(stream_type) in (collections.abc.AsyncIterator, collections.abc.AsyncGenerator):
        return typing.get_args(stream_type)[0]
    anext = getattr(stream_type, "__anext__", None) if isinstance(stream_type, type) else None
    return _returned(anext) if anext is not None else None


def _in_tested_range(installed: str) -> bool:
    try:
        return Version(installed) in SpecifierSet(TESTED_LITELLM)
    except InvalidVersion:
        return False
