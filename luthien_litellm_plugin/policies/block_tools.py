"""block_tools: stops tool calls by name or by what their arguments contain."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from luthien_litellm_plugin.policies.simple_policy import SimplePolicy, ToolCallDecision
from luthien_litellm_plugin.types import RequestMessage, ToolCall


class BlockToolsOptions(BaseModel):
    """Options of `block_tools`."""

    model_config = ConfigDict(extra="forbid")

    tools: list[str] = Field(default_factory=list, description="Tool (function) names to block.")
    arguments_pattern: str | None = Field(
        default=None, description="Regular expression; a tool call whose arguments match it is blocked."
    )
    block_response: bool = Field(
        default=False,
        description="Refuse the whole response instead of replacing the blocked call with an explanation.",
    )

    @field_validator("arguments_pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"not a valid regular expression: {error}") from error
        return pattern

    @model_validator(mode="after")
    def _something_to_block(self) -> BlockToolsOptions:
        if not self.tools and self.arguments_pattern is None:
            raise ValueError("set `tools` and/or `arguments_pattern`")
        return self


class BlockToolsPolicy(SimplePolicy):
    """Blocks tool calls the model asks for, by tool name and/or a regex over the arguments.

    A blocked call never reaches the client: it is replaced by a short text saying which tool
    was blocked and why, and the rest of the response is kept (`finish_reason` becomes `stop`
    if no tool call remains). With `block_response: true` the whole response is refused
    instead. Text is held per block while streaming; tool calls are decided once complete.
    """

    Options = BlockToolsOptions

    def __init__(self, options: BlockToolsOptions) -> None:
        self.options = options
        self._tools = frozenset(options.tools)
        self._pattern = re.compile(options.arguments_pattern) if options.arguments_pattern else None

    def reason_to_block(self, tool_call: ToolCall) -> str | None:
        if tool_call.name in self._tools:
            return f"tool '{tool_call.name}' is not allowed"
        if self._pattern is not None and self._pattern.search(tool_call.arguments):
            return f"arguments of '{tool_call.name}' match /{self._pattern.pattern}/"
        return None

    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCallDecision:
        reason = self.reason_to_block(tool_call)
        if reason is None:
            return tool_call
        if self.options.block_response:
            self.block(reason)
        return f"\n[{self.name}: blocked a call to '{tool_call.name}': {reason}]"
