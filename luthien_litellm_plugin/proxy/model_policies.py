"""Which policy each model group uses: `model_info.luthien_policy` of its deployments."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence

import yaml

from luthien_litellm_plugin.policies.policy import Policy
from luthien_litellm_plugin.proxy.settings import ROOT, ConfigError

POLICY_KEY = "luthien_policy"


def model_policies(model_list: Sequence[object], known: set[str], default: str) -> dict[str, str]:
    """Map model group name → policy name, checking names exist and groups agree.

    Deployments without `model_info.luthien_policy` use `default`.
    """
    chosen: dict[str, tuple[str, int]] = {}
    for position, deployment in enumerate(model_list):
        path = f"model_list[{position}]"
        if not isinstance(deployment, dict) or not isinstance(deployment.get("model_name"), str):
            raise ConfigError(f"{path}.model_name: missing")
        group: str = deployment["model_name"]
        model_info = deployment.get("model_info") or {}
        policy = model_info.get(POLICY_KEY, default) if isinstance(model_info, dict) else default
        if not isinstance(policy, str) or policy not in known:
            raise ConfigError(
                f"{path}.model_info.{POLICY_KEY}: unknown policy '{policy}' (known: {', '.join(sorted(known))})"
            )
        earlier = chosen.setdefault(group, (policy, position))
        if earlier[0] != policy:
            raise ConfigError(
                f"{path}.model_info.{POLICY_KEY}: model group '{group}' uses policy '{earlier[0]}' in "
                f"model_list[{earlier[1]}] but '{policy}' here; all deployments of a group must agree"
            )
    return {group: policy for group, (policy, _) in chosen.items()}


FALLBACK_KEYS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")


def check_fallbacks(
    config: Mapping[str, object], policy_of: Callable[[str], str], same: Callable[[str, str], bool]
) -> None:
    """Refuse configured fallbacks from one model group to a group of another policy.

    The plugin never lets a deployment serve a request checked under another policy, so such a
    fallback could only ever fail; say so at start-up instead of on the first outage.
    """
    for section in ("router_settings", "litellm_settings"):
        settings = config.get(section)
        if not isinstance(settings, Mapping):
            continue
        for key in FALLBACK_KEYS:
            for position, entry in enumerate(_list(settings.get(key))):
                for group, targets in entry.items() if isinstance(entry, Mapping) else ():
                    for target in _list(targets):
                        _same_policy(f"{section}.{key}[{position}].{group}", str(group), str(target), policy_of, same)


def _same_policy(
    path: str, group: str, target: str, policy_of: Callable[[str], str], same: Callable[[str, str], bool]
) -> None:
    if not same(policy_of(group), policy_of(target)):
        raise ConfigError(
            f"{path}: model group '{group}' (policy '{policy_of(group)}') falls back to '{target}' "
            f"(policy '{policy_of(target)}'); the luthien plugin refuses to serve a request under another "
            "policy, so fall back only to groups with the same policy"
        )


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def load_config_file(config_path: str) -> dict[str, object]:
    """A litellm_config.yaml file, parsed."""
    with open(config_path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    if not isinstance(config, dict):
        raise ConfigError("(top level): expected a mapping")
    return config


def model_list_of(config: Mapping[str, object]) -> list[object]:
    """The `model_list` of a litellm_config.yaml (empty when it has none)."""
    model_list = config.get("model_list") or []
    if not isinstance(model_list, list):
        raise ConfigError("model_list: expected a list")
    return model_list


def check_policy_models(policies: Mapping[str, Policy], config: Mapping[str, object]) -> None:
    """Refuse a policy that calls a model group (a judge's `judge_model`) the proxy does not serve:
    a model group of `model_list`, one of its wildcard groups, or a `router_settings.model_group_alias`."""
    groups = {str(d.get("model_name")) for d in model_list_of(config) if isinstance(d, Mapping)}
    router_settings = config.get("router_settings")
    aliases = router_settings.get("model_group_alias") if isinstance(router_settings, Mapping) else None
    groups |= set(aliases) if isinstance(aliases, Mapping) else set()
    for name, policy in policies.items():
        for option, group in policy.model_groups().items():
            if group not in groups and not any(
                fnmatch.fnmatchcase(group, pattern) for pattern in groups if "*" in pattern
            ):
                raise ConfigError(
                    f"{ROOT}.policies.{name}.options.{option}: model group '{group}' is not in model_list "
                    f"(known: {', '.join(sorted(groups)) or 'none'})"
                )
