"""Which policy each model group uses: `model_info.luthien_policy` of its deployments."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from luthien_litellm_plugin.proxy.settings import ConfigError

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


def model_list_from_file(config_path: str) -> list[object]:
    """The `model_list` of a litellm_config.yaml file (empty when it has none)."""
    with open(config_path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    model_list = config.get("model_list") or []
    if not isinstance(model_list, list):
        raise ConfigError("model_list: expected a list")
    return model_list
