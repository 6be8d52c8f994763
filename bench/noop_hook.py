"""The floor arm: a CustomLogger declaring the hooks the plugin declares, each doing nothing.

What it costs against stock is what LiteLLM charges any plugin with these hooks; the plugin's own
cost is what it adds on top of this arm.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth


class NoopHooks(CustomLogger):
    """Every hook declared on the leaf class (LiteLLM ignores inherited ones), each a no-op."""

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: object, data: dict, call_type: str
    ) -> dict:
        return data

    async def async_pre_call_check(self, deployment: dict, parent_otel_span: object) -> dict | None:
        return None

    async def async_pre_call_deployment_hook(self, kwargs: dict, call_type: object) -> dict | None:
        return None

    async def async_post_call_streaming_iterator_hook(  # type: ignore[override]
        self, user_api_key_dict: UserAPIKeyAuth, response: AsyncIterator[object], request_data: dict
    ) -> AsyncIterator[object]:
        async for item in response:
            yield item

    async def async_post_call_success_hook(
        self, data: dict, user_api_key_dict: UserAPIKeyAuth, response: object
    ) -> object:
        return response

    async def async_post_call_failure_hook(
        self,
        request_data: dict,
        original_exception: Exception,
        user_api_key_dict: UserAPIKeyAuth,
        traceback_str: str | None = None,
    ) -> None:
        return None

    async def async_post_call_response_headers_hook(
        self,
        data: dict,
        user_api_key_dict: UserAPIKeyAuth,
        response: object,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, object] | None = None,
    ) -> dict[str, str] | None:
        return None


handler = NoopHooks()
