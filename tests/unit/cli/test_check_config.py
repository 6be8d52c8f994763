"""`luthien check-config` fails on what the proxy fails on, naming the same key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from luthien_litellm_plugin.cli.check_config import check_config
from luthien_litellm_plugin.cli.where import StorageConfigError, option, storage_settings
from luthien_litellm_plugin.proxy.settings import ConfigError

MODEL = {"model_name": "m", "litellm_params": {"model": "openai/m", "api_key": "x"}}


def write(tmp_path: Path, config: object) -> Path:
    path = tmp_path / "litellm_config.yaml"
    path.write_text(yaml.safe_dump(config) if not isinstance(config, str) else config)
    return path


def config(luthien: dict[str, object], model_info: dict[str, object] | None = None) -> dict[str, object]:
    model = {**MODEL, **({"model_info": model_info} if model_info else {})}
    return {
        "model_list": [model],
        "litellm_settings": {"callbacks": ["luthien_litellm_plugin.callback"]},
        "general_settings": {"master_key": "sk-anything"},
        "callback_settings": {"luthien": luthien},
    }


@pytest.mark.parametrize(
    ("luthien", "model_info", "named"),
    [
        (
            {"policies": {"no_shell": {"class": "block_tools", "options": {"tools": "bash"}}}},
            None,
            "callback_settings.luthien.policies.no_shell.options.tools",
        ),
        ({"policies": {"x": {"class": "nowhere.module:Policy"}}}, None, "callback_settings.luthien.policies.x.class"),
        ({}, {"luthien_policy": "ghost"}, "model_list[0].model_info.luthien_policy: unknown policy 'ghost'"),
        ({"stream_idle_timeout_seconds": 0}, None, "callback_settings.luthien.stream_idle_timeout_seconds"),
        ({"database_url": "mysql://x"}, None, "callback_settings.luthien.database_url: database_url must start with"),
        ({"redis_url": "os.environ/LUTHIEN_TEST_UNSET_VARIABLE"}, None, "environment variable LUTHIEN_TEST_UNSET"),
        ({"colour": "blue"}, None, "callback_settings.luthien.colour: Extra inputs are not permitted"),
    ],
)
def test_a_bad_config_names_the_key(
    tmp_path: Path, luthien: dict[str, object], model_info: dict[str, object] | None, named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        check_config(write(tmp_path, config(luthien, model_info)))
    assert named in str(caught.value)


def test_a_good_config_says_what_the_plugin_will_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUTHIEN_DATABASE_URL", raising=False)
    monkeypatch.setenv("LUTHIEN_TEST_REDIS", "redis://cache:6379/0")
    luthien = {
        "policies": {"no_shell": {"class": "block_tools", "options": {"tools": ["bash"]}}},
        "redis_url": "os.environ/LUTHIEN_TEST_REDIS",
    }
    checked = check_config(write(tmp_path, config(luthien, {"luthien_policy": "no_shell"})))
    assert checked.policies_by_model == {"m": "no_shell"}
    assert checked.storage.redis_url == "redis://cache:6379/0" and checked.storage.backend == "sqlite"
    assert checked.warnings == []


def test_not_yaml_and_a_plugin_that_is_not_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        check_config(write(tmp_path, "model_list: [\n"))
    with pytest.raises(ConfigError, match="cannot read it"):
        check_config(tmp_path / "missing.yaml")
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)
    checked = check_config(write(tmp_path, {"model_list": [MODEL]}))
    assert any("litellm_settings.callbacks" in warning for warning in checked.warnings)
    assert any("master_key" in warning for warning in checked.warnings)


def test_a_bad_url_from_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUTHIEN_DATABASE_URL", "mongodb://x")
    with pytest.raises(StorageConfigError, match=r"^LUTHIEN_DATABASE_URL: database_url must start with"):
        storage_settings(None, None, None)
    with pytest.raises(StorageConfigError, match=r"^--database-url: database_url must start with"):
        storage_settings("oracle://x", None, None, given_as=option)


def test_fallbacks_across_policies_are_refused_like_the_proxy_does(tmp_path: Path) -> None:
    guarded = {**MODEL, "model_name": "guarded", "model_info": {"luthien_policy": "no_shell"}}
    raw = {
        **config({"policies": {"no_shell": {"class": "block_tools", "options": {"tools": ["bash"]}}}}),
        "model_list": [guarded, {**MODEL, "model_name": "open"}],
        "router_settings": {"fallbacks": [{"guarded": ["open"]}]},
    }
    with pytest.raises(ConfigError, match=r"^router_settings\.fallbacks\[0\]\.guarded: model group 'guarded'"):
        check_config(write(tmp_path, raw))
