"""A LiteLLM that no longer calls the plugin's hooks as it relies on: the real proxy refuses to
start, naming the LiteLLM version and the hook, instead of serving streams without policies."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from luthien_litellm_plugin.proxy.litellm_contract import TESTED_LITELLM, litellm_version
from tests.e2e.conftest import REPO
from tests.fakes.upstream import free_port

pytestmark = pytest.mark.e2e

PROXY_WITHOUT_ITERATOR_HOOKS = '''
"""Loaded at interpreter start-up: turns the installed LiteLLM into one whose proxy no longer
calls any callback's streaming iterator hook (as if LiteLLM changed how it finds them)."""
import dataclasses

from litellm.proxy.utils import ProxyLogging

_detect = ProxyLogging.callback_capabilities


def _without_iterator_hooks():
    return dataclasses.replace(_detect(), has_iterator_override=False, iterator_overrides=())


ProxyLogging.callback_capabilities = staticmethod(_without_iterator_hooks)
ProxyLogging._callback_capabilities = ProxyLogging.callback_capabilities
'''


def test_proxy_refuses_to_start_when_litellm_would_not_call_the_iterator_hook(tmp_path: Path) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(PROXY_WITHOUT_ITERATOR_HOOKS)
    config = tmp_path / "litellm_config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [
                    {
                        "model_name": "m",
                        "litellm_params": {"model": "openai/m", "api_key": "x", "mock_response": "hi"},
                        "model_info": {"luthien_policy": "all_caps"},
                    }
                ],
                "litellm_settings": {"callbacks": ["luthien_litellm_plugin.callback"]},
                "callback_settings": {"luthien": {}},
            }
        )
    )
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": f"sk-test-{secrets.token_hex(8)}",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LUTHIEN_DATABASE_URL": f"sqlite:///{tmp_path / 'luthien.db'}",
        "PYTHONPATH": os.pathsep.join([str(shim), str(REPO)]),
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
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert f"LiteLLM {litellm_version()} does not call the luthien plugin the way it relies on" in output
    assert "the proxy would not call LuthienCallback.async_post_call_streaming_iterator_hook" in output
    assert f"tested with litellm{TESTED_LITELLM}" in output
