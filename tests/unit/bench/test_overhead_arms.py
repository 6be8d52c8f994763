from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from bench.noop_hook import NoopHooks, handler
from bench.overhead import arms

HOOKS = (
    "async_pre_call_hook",
    "async_pre_call_check",
    "async_pre_call_deployment_hook",
    "async_post_call_streaming_iterator_hook",
    "async_post_call_success_hook",
    "async_post_call_failure_hook",
    "async_post_call_response_headers_hook",
)


def test_the_noop_arm_loads_the_noop_hooks_and_no_plugin(tmp_path: Path) -> None:
    (noop,) = arms.catalogue(tmp_path)["noop"]
    config = arms.config(noop, {5: "http://127.0.0.1:1"})
    assert config["litellm_settings"] == {"num_retries": 0, "callbacks": ["bench.noop_hook.handler"]}
    assert "callback_settings" not in config
    assert not noop.stock and noop.text and noop.reference == arms.STOCK


def test_the_noop_hooks_declare_every_hook_the_plugin_declares_on_their_own_class() -> None:
    from luthien_litellm_plugin.proxy.plugin import LuthienCallback

    # LiteLLM looks hooks up on the leaf class: the floor arm must pay for the same ones.
    assert set(HOOKS) <= set(vars(NoopHooks))
    plugin_hooks = {name for name in vars(LuthienCallback) if name.startswith("async_")}
    assert plugin_hooks <= set(vars(NoopHooks))


async def test_the_noop_hooks_pass_requests_and_streams_through_unchanged() -> None:
    async def upstream() -> AsyncIterator[object]:
        for item in (b"event: a\n\n", b"event: b\n\n"):
            yield item

    data = {"model": "m"}
    assert await handler.async_pre_call_hook(None, None, data, "acompletion") is data  # type: ignore[arg-type]
    served = [item async for item in handler.async_post_call_streaming_iterator_hook(None, upstream(), data)]  # type: ignore[arg-type]
    assert served == [b"event: a\n\n", b"event: b\n\n"]
