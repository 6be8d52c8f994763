"""all_caps: upper-cases the assistant's text (the plan's SimplePolicy example)."""

from __future__ import annotations

from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.types import RequestMessage


class AllCapsPolicy(SimplePolicy):
    """Upper-cases every text block of the response. Tool calls pass unchanged. While streaming,
    each text block is held until complete, then sent upper-cased.
    """

    async def on_response_content(self, content: str, request: RequestMessage) -> str:
        return content.upper()
