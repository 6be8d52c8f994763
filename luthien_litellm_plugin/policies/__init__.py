"""Everything a policy author needs, in one place.

from luthien_litellm_plugin.policies import Policy, SimplePolicy, ToolCall, send_text, ...
"""

from luthien_litellm_plugin.errors import PolicyBlockedError
from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.observability.context import ObservabilityContext
from luthien_litellm_plugin.policies.decisions import decide_blocks
from luthien_litellm_plugin.policies.judging import (
    JudgeAnswerError,
    JudgeContext,
    JudgeVerdict,
    TTLCache,
    ask_model,
    cache_key,
    describe_failure,
    parse_json_object,
)
from luthien_litellm_plugin.policies.policy import Policy, PolicyContext, StreamHooks
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy, ToolCallDecision
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock, StreamBlock, ToolCallStreamBlock
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.streaming.helpers import (
    BlockDecision,
    drop_block,
    get_last_ingress_chunk,
    hold_block,
    passthrough_accumulated_chunks,
    passthrough_block,
    passthrough_last_chunk,
    send_text,
    send_tool_call,
)
from luthien_litellm_plugin.streaming.state import StreamState
from luthien_litellm_plugin.types import RequestMessage, ToolCall

__all__ = [
    "BlockDecision",
    "ContentStreamBlock",
    "JudgeAnswerError",
    "JudgeContext",
    "JudgeVerdict",
    "LLMClient",
    "ObservabilityContext",
    "Policy",
    "PolicyBlockedError",
    "PolicyContext",
    "RequestMessage",
    "SimplePolicy",
    "StreamBlock",
    "StreamHooks",
    "StreamState",
    "StreamingResponseContext",
    "TTLCache",
    "ToolCall",
    "ToolCallDecision",
    "ToolCallStreamBlock",
    "ask_model",
    "cache_key",
    "decide_blocks",
    "describe_failure",
    "drop_block",
    "get_last_ingress_chunk",
    "hold_block",
    "parse_json_object",
    "passthrough_accumulated_chunks",
    "passthrough_block",
    "passthrough_last_chunk",
    "send_text",
    "send_tool_call",
]
