"""Configured fallbacks must stay within one policy."""

from __future__ import annotations

import pytest

from luthien_litellm_plugin.proxy.model_policies import check_fallbacks
from luthien_litellm_plugin.proxy.settings import ConfigError, load_plugin_config

CONFIG = load_plugin_config({"policies": {"caps": {"class": "all_caps"}, "calm": {"class": "passthrough"}}})
GROUPS = {"loud": "caps", "loud-2": "caps", "quiet": "passthrough", "calm-group": "calm"}


def policy_of(group: str) -> str:
    return GROUPS.get(group, "passthrough")


@pytest.mark.parametrize(
    "config",
    [
        {"router_settings": {"fallbacks": [{"loud": ["loud-2"]}, {"quiet": ["calm-group", "unlisted"]}]}},
        {"litellm_settings": {"context_window_fallbacks": [{"calm-group": ["quiet"]}]}},
        {},
    ],
)
def test_fallbacks_within_one_policy_are_accepted(config: dict[str, object]) -> None:
    check_fallbacks(config, policy_of, CONFIG.same_policy)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"router_settings": {"fallbacks": [{"quiet": ["loud"]}]}}, "router_settings.fallbacks[0].quiet"),
        (
            {"litellm_settings": {"content_policy_fallbacks": [{"a": ["b"]}, {"loud": ["quiet"]}]}},
            "litellm_settings.content_policy_fallbacks[1].loud",
        ),
    ],
)
def test_fallbacks_across_policies_refuse_start_up(config: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        check_fallbacks(config, policy_of, CONFIG.same_policy)
