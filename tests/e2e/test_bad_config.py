"""Bad plugin configuration: the real proxy refuses to start and names the YAML key."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import REPO
from tests.fakes.upstream import free_port

pytestmark = pytest.mark.e2e

MODEL = {"model_name": "m", "litellm_params": {"model": "openai/m", "api_key": "x", "mock_response": "hi"}}


NO_SHELL = {"no_shell": {"class": "block_tools", "options": {"tools": ["bash"]}}}
OTHER = {"model_name": "other", "litellm_params": {"model": "openai/o", "api_key": "x", "mock_response": "hi"}}


@pytest.mark.parametrize(
    ("luthien", "model_info", "extra", "named"),
    [
        (
            {"policies": {"no_shell": {"class": "block_tools", "options": {"tools": "bash"}}}},
            None,
            {},
            "callback_settings.luthien.policies.no_shell.options.tools",
        ),
        (
            {"policies": {"x": {"class": "nowhere.module:Policy"}}},
            None,
            {},
            "callback_settings.luthien.policies.x.class",
        ),
        ({}, {"luthien_policy": "ghost"}, {}, "model_list[0].model_info.luthien_policy: unknown policy 'ghost'"),
        ({"unpoliced_routes": ["embeddings"]}, None, {}, "callback_settings.luthien.unpoliced_routes"),
        (
            {"policies": NO_SHELL},
            {"luthien_policy": "no_shell"},
            {"router_settings": {"fallbacks": [{"m": ["other"]}]}},
            "router_settings.fallbacks[0].m: model group 'm' (policy 'no_shell') falls back to 'other'",
        ),
        (
            {"policies": {"judged": {"class": "tool_call_judge", "options": {"judge_model": "ghost"}}}},
            None,
            {},
            "callback_settings.luthien.policies.judged.options.judge_model: model group 'ghost' is not in model_list",
        ),
        (
            {"policies": {"judged": {"class": "tool_call_judge", "options": {"judge_model": "m", "threshold": 2}}}},
            None,
            {},
            "callback_settings.luthien.policies.judged.options.threshold",
        ),
        (
            {"policies": {"rule": {"class": "llm_rule", "options": {"judge_model": "m"}}}},
            None,
            {},
            "callback_settings.luthien.policies.rule.options.instruction",
        ),
        (
            {"policies": {**NO_SHELL, "guarded": {"chain": ["no_shell", "judged"]}}},
            None,
            {},
            "callback_settings.luthien.policies.guarded.chain[1]: unknown policy 'judged'",
        ),
        (
            {"policies": {"a": {"chain": ["all_caps", "b"]}, "b": {"chain": ["a"]}}},
            None,
            {},
            "callback_settings.luthien.policies.b.chain: chains form a cycle (a → b → a)",
        ),
    ],
)
def test_proxy_refuses_to_start(
    tmp_path: Path,
    luthien: dict[str, object],
    model_info: dict[str, object] | None,
    extra: dict[str, object],
    named: str,
) -> None:
    model = {**MODEL, **({"model_info": model_info} if model_info else {})}
    config = tmp_path / "litellm_config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [model, OTHER],
                "litellm_settings": {"callbacks": ["luthien_litellm_plugin.callback"]},
                "callback_settings": {"luthien": luthien},
                **extra,
            }
        )
    )
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": f"sk-test-{secrets.token_hex(8)}",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONPATH": str(REPO),
    }
    litellm = str(Path(sys.executable).parent / "litellm")
    result = subprocess.run(
        [litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert named in result.stdout + result.stderr
