"""The start-up check of what the plugin relies on in LiteLLM: it holds on the installed LiteLLM,
and each simulated break of it is reported, naming the LiteLLM version."""

from __future__ import annotations

import dataclasses
import enum
import logging
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import litellm
import pytest
from litellm.integrations.custom_logger import CustomLogger
from litellm.llms.anthropic.pass_through.messages.streaming_iterator import AnthropicMessagesStreamingResponse
from litellm.proxy.utils import ProxyLogging
from litellm.router import Router
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from luthien_litellm_plugin.events import InMemoryEventSink
from luthien_litellm_plugin.proxy import litellm_contract
from luthien_litellm_plugin.proxy.litellm_contract import (
    TESTED_LITELLM,
    check_litellm_contract,
    contract_problems,
    litellm_version,
)
from luthien_litellm_plugin.proxy.plugin import LuthienCallback
from luthien_litellm_plugin.proxy.settings import ConfigError, load_plugin_config

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def callback() -> LuthienCallback:
    return LuthienCallback(load_plugin_config({}), {}, InMemoryEventSink())


def test_the_installed_litellm_meets_the_contract(callback: LuthienCallback) -> None:
    assert contract_problems(callback) == []
    check_litellm_contract(callback)


def test_the_installed_litellm_is_in_the_tested_range() -> None:
    assert litellm_version() in SpecifierSet(TESTED_LITELLM)


def test_pyproject_declares_the_tested_range_and_ci_pins_a_version_in_it() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    [declared] = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "litellm"]
    assert declared.specifier == SpecifierSet(TESTED_LITELLM)
    assert "proxy" in declared.extras
    pins = [Requirement(line) for line in (REPO / "constraints.txt").read_text().splitlines() if line[:1].isalpha()]
    [pinned] = [str(pin.specifier) for pin in pins if pin.name == "litellm"]
    assert pinned.startswith("==") and pinned[2:] in declared.specifier


def test_hooks_inherited_from_the_plugin_class_are_never_called_and_are_refused() -> None:
    class Inherited(LuthienCallback):
        """Registering a subclass: LiteLLM's proxy would skip every hook it looks up on the leaf class."""

    problems = contract_problems(Inherited(load_plugin_config({}), {}, InMemoryEventSink()))
    assert problems == [
        f"Inherited does not define {hook} on its own class (the proxy ignores inherited ones)"
        for hook in litellm_contract.LEAF_CLASS_HOOKS
    ]


def test_a_proxy_that_stops_calling_iterator_hooks_refuses_to_start(
    callback: LuthienCallback, monkeypatch: pytest.MonkeyPatch
) -> None:
    detect = ProxyLogging._callback_capabilities

    def without_iterator_hooks() -> object:
        return dataclasses.replace(detect(), has_iterator_override=False, iterator_overrides=())

    monkeypatch.setattr(ProxyLogging, "_callback_capabilities", staticmethod(without_iterator_hooks))
    with pytest.raises(ConfigError) as refused:
        check_litellm_contract(callback)
    message = str(refused.value)
    assert f"LiteLLM {litellm_version()} does not call the luthien plugin" in message
    assert f"tested with litellm{TESTED_LITELLM}" in message
    assert "the proxy would not call LuthienCallback.async_post_call_streaming_iterator_hook" in message
    assert "async_pre_call_hook" not in message


def test_probing_the_proxy_leaves_its_callbacks_and_cache_as_they_were(callback: LuthienCallback) -> None:
    ProxyLogging._callback_capabilities()  # what the proxy has cached for its own list
    callbacks, cache = litellm.callbacks, dict(ProxyLogging._callback_capabilities_cache)
    assert contract_problems(callback) == []
    assert litellm.callbacks is callbacks
    assert ProxyLogging._callback_capabilities_cache == cache


def test_a_hook_called_with_arguments_the_plugin_does_not_take_is_refused(
    callback: LuthienCallback, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def pre_call_check(self: CustomLogger, deployment: dict, parent_otel_span: object, attempt: int) -> None:
        """A LiteLLM that passes one more argument."""

    monkeypatch.setattr(CustomLogger, "async_pre_call_check", pre_call_check)
    assert contract_problems(callback) == [
        "LiteLLM calls async_pre_call_check(deployment, parent_otel_span, attempt); "
        "LuthienCallback.async_pre_call_check takes (deployment, parent_otel_span)"
    ]


def test_a_router_that_stops_reporting_deployments_is_refused(
    callback: LuthienCallback, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def pre_call_checks(self: Router, deployment: dict, parent_otel_span: object, logging_obj: object) -> None:
        """A router whose attempts no longer tell the callbacks which deployment they call."""

    monkeypatch.setattr(Router, "async_routing_strategy_pre_call_checks", pre_call_checks)
    assert contract_problems(callback) == [
        "Router.async_routing_strategy_pre_call_checks no longer calls async_pre_call_check on litellm.callbacks"
    ]


@pytest.mark.parametrize("attempt", ["_acompletion", "_ageneric_api_call_with_fallbacks_helper"])
def test_a_router_attempt_that_skips_the_pre_call_checks_is_refused(
    callback: LuthienCallback, monkeypatch: pytest.MonkeyPatch, attempt: str
) -> None:
    async def call_without_checks(self: Router, model: str, messages: list[dict], **kwargs: object) -> object:
        return await litellm.acompletion(model=model, messages=messages, **kwargs)

    monkeypatch.setattr(Router, attempt, call_without_checks)
    assert contract_problems(callback) == [
        f"Router.{attempt} (one attempt at a deployment) no longer runs Router.async_routing_strategy_pre_call_checks"
    ]


def test_a_model_call_outside_litellms_client_wrapper_is_refused(
    callback: LuthienCallback, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def acompletion(**kwargs: object) -> None:
        """A LiteLLM whose acompletion skips the wrapper that calls the deployment hook."""

    monkeypatch.setattr(litellm, "acompletion", acompletion)
    assert contract_problems(callback) == [
        "litellm.acompletion is no longer wrapped by litellm.utils.client (which calls async_pre_call_deployment_hook)"
    ]


def test_a_call_type_the_plugin_dispatches_on_must_exist(
    callback: LuthienCallback, monkeypatch: pytest.MonkeyPatch
) -> None:
    renamed = enum.Enum("CallTypes", {"acompletion": "acompletion", "completion": "completion"})
    monkeypatch.setattr(litellm_contract, "CallTypes", renamed)
    missing = ", ".join(sorted(litellm_contract.DISPATCHED_CALL_TYPES - {"acompletion", "completion"}))
    assert "anthropic_messages" in missing and "call_mcp_tool" in missing
    assert contract_problems(callback) == [f"litellm.types.utils.CallTypes has no {missing}"]


def test_messages_streams_that_stop_being_bytes_are_refused(
    callback: LuthienCallback, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def anext(self: AnthropicMessagesStreamingResponse) -> dict:
        """A LiteLLM that hands /v1/messages events to the iterator hook as parsed dicts."""
        return {}

    monkeypatch.setattr(AnthropicMessagesStreamingResponse, "__anext__", anext)
    assert contract_problems(callback) == ["/v1/messages streams from Anthropic upstreams no longer yield bytes"]


def test_stream_item_types_are_read_from_stream_classes_and_iterator_annotations() -> None:
    class Chunks:
        async def __anext__(self) -> bytes:
            return b""

    assert litellm_contract._items_of(Chunks) is bytes
    assert litellm_contract._items_of(AsyncIterator[bytes]) is bytes
    assert litellm_contract._items_of(AsyncIterator[str]) is str
    assert litellm_contract._items_of(dict) is None


def test_a_litellm_without_what_the_check_reads_is_refused(
    callback: LuthienCallback, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "litellm.llms.anthropic.pass_through.adapters.streaming_iterator", None)
    [problem] = contract_problems(callback)
    assert problem.startswith("stream_item_types: cannot inspect LiteLLM (ModuleNotFoundError:")


def test_an_untested_litellm_that_meets_the_contract_starts_with_a_warning(
    callback: LuthienCallback, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(litellm_contract, "litellm_version", lambda: "1.200.0")
    with caplog.at_level(logging.WARNING, logger="luthien_litellm_plugin"):
        check_litellm_contract(callback)
    assert f"LiteLLM 1.200.0 is outside the tested range {TESTED_LITELLM}" in caplog.text
