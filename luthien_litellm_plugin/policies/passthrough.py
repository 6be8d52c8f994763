"""passthrough: forwards everything exactly as received."""

from __future__ import annotations

from luthien_litellm_plugin.policies.policy import Policy


class PassthroughPolicy(Policy):
    """Changes nothing. Each streamed chunk is forwarded the moment it arrives (timing kept);
    requests and complete responses are returned as received. The transaction is still recorded.
    """
