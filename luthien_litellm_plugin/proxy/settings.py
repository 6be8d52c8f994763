"""`callback_settings.luthien` in litellm_config.yaml: parsed, validated, policies built."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from luthien_litellm_plugin.policies.chain import ChainPolicy
from luthien_litellm_plugin.policies.passthrough import PassthroughPolicy
from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.policies.registry import BUILTIN_POLICIES, PolicyConfigError, build_policy
from luthien_litellm_plugin.proxy.coverage import known_call_types

ROOT = "callback_settings.luthien"
ENV_PREFIX = "os.environ/"


class ConfigError(ValueError):
    """The plugin cannot start: its configuration is invalid (the message names the YAML key), or
    the installed LiteLLM would not call it as it relies on (the message names the version)."""


class PolicySpec(BaseModel):
    """One entry of `policies`: a class with its options, or a chain of other policies."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    class_: str | None = Field(default=None, alias="class", min_length=1)
    options: dict[str, object] = Field(default_factory=dict)
    chain: list[str] | None = Field(default=None, min_length=1)
    """Names of configured policies, applied in this order."""

    @model_validator(mode="after")
    def _class_or_chain(self) -> PolicySpec:
        if (self.class_ is None) == (self.chain is None):
            raise ValueError("set either `class` (with its `options`) or `chain` (a list of policy names)")
        if self.chain is not None and self.options:
            raise ValueError("a `chain` takes no `options` (its policies have their own)")
        return self


class LuthienSettings(BaseModel):
    """Everything under `callback_settings.luthien`."""

    model_config = ConfigDict(extra="forbid")

    default_policy: str = "passthrough"
    policies: dict[str, PolicySpec] = Field(default_factory=dict)
    stream_idle_timeout_seconds: float = Field(default=30.0, gt=0)
    stream_keepalive_seconds: float = Field(default=10.0, gt=0)
    """While a policy holds part of a stream (e.g. a judge deciding), a keepalive goes to a client
    that received nothing for this long (`event: ping` on /v1/messages, `: ping` on chat)."""
    database_url: str | None = None
    redis_url: str | None = None
    spool_dir: str | None = None
    unpoliced_routes: list[str] = Field(default_factory=list)
    """Routes allowed without a policy: LiteLLM call types (`aembedding`) or path prefixes
    (`/anthropic`). Each such request is recorded as unpoliced."""
    mcp_policy: str | None = None
    """The policy that checks tools run by LiteLLM's MCP gateway (default: `default_policy`)."""

    @field_validator("unpoliced_routes")
    @classmethod
    def _known_routes(cls, routes: list[str]) -> list[str]:
        known = known_call_types()
        for route in routes:
            if not route.startswith("/") and route not in known:
                raise ValueError(f"'{route}' is neither a path prefix (starting with '/') nor a LiteLLM call type")
        return routes

    blocked_request_response: Literal["error", "message"] = "error"
    """A request a policy blocks: `error` (HTTP 400 `policy_blocked`) or `message` (200, an assistant
    message explaining the block)."""
    viewer: bool = True
    """Serve the transaction viewer at `/luthien/` in the proxy (master key only)."""


@dataclass(frozen=True)
class PluginConfig:
    settings: LuthienSettings
    policies: dict[str, Policy]
    """Every usable policy by name: the configured ones, plus built-ins that take no options."""

    def is_passthrough(self, policy: str) -> bool:
        return isinstance(self.policies.get(policy), PassthroughPolicy)

    def same_policy(self, first: str, second: str) -> bool:
        """Whether a request checked under one may be served under the other (passthroughs are alike)."""
        return first == second or (self.is_passthrough(first) and self.is_passthrough(second))


def resolve_env(value: object, path: str) -> object:
    """Replace `os.environ/NAME` strings (at any depth) by the variable's value."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name not in os.environ:
            raise ConfigError(f"{path}: environment variable {name} is not set")
        return os.environ[name]
    if isinstance(value, dict):
        return {key: resolve_env(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_env(item, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


def load_plugin_config(raw: object) -> PluginConfig:
    """Validate the raw `callback_settings.luthien` mapping and build every policy it names."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{ROOT}: expected a mapping, got {type(raw).__name__}")
    try:
        settings = LuthienSettings.model_validate(resolve_env(raw, ROOT))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join([ROOT, *(str(part) for part in first["loc"])])
        raise ConfigError(f"{where}: {first['msg']}") from error
    policies = _build_policies(settings)
    if settings.default_policy not in policies:
        raise ConfigError(f"{ROOT}.default_policy: unknown policy '{settings.default_policy}' ({_known(policies)})")
    if settings.mcp_policy is not None and settings.mcp_policy not in policies:
        raise ConfigError(f"{ROOT}.mcp_policy: unknown policy '{settings.mcp_policy}' ({_known(policies)})")
    return PluginConfig(settings, policies)


def _build_policies(settings: LuthienSettings) -> dict[str, Policy]:
    policies: dict[str, Policy] = {}
    for name, policy_class in BUILTIN_POLICIES.items():
        if getattr(policy_class, "Options", None) is None:
            policies[name] = policy_class().named(name)
    chains: dict[str, list[str]] = {}
    for name, spec in settings.policies.items():
        if spec.chain is not None:
            chains[name] = spec.chain
            continue
        assert spec.class_ is not None  # PolicySpec requires class or chain
        try:
            policies[name] = build_policy(name, spec.class_, spec.options, f"{ROOT}.policies.{name}")
        except PolicyConfigError as error:
            raise ConfigError(str(error)) from error
    for name in chains:
        policies.pop(name, None)  # a chain may reuse a built-in's name
    for name in chains:
        _build_chain(name, chains, policies, ())
    return policies


def _build_chain(name: str, chains: dict[str, list[str]], policies: dict[str, Policy], via: tuple[str, ...]) -> Policy:
    """The chain `name`, building the chains it names first; refuses unknown names and cycles."""
    if name in via:
        cycle = " → ".join([*via[via.index(name) :], name])
        raise ConfigError(f"{ROOT}.policies.{via[-1]}.chain: chains form a cycle ({cycle})")
    if name in policies:
        return policies[name]
    members: list[Policy] = []
    for position, member in enumerate(chains[name]):
        if member not in policies and member not in chains:
            known = _known({**policies, **chains})
            raise ConfigError(f"{ROOT}.policies.{name}.chain[{position}]: unknown policy '{member}' ({known})")
        members.append(_build_chain(member, chains, policies, (*via, name)))
    policies[name] = ChainPolicy(members).named(name)
    return policies[name]


def _known(policies: Mapping[str, object]) -> str:
    return "known: " + ", ".join(sorted(policies))
