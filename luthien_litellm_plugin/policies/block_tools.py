"""block_tools: stops tool calls by name or by what their arguments contain."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from luthien_litellm_plugin.policies.simple_policy import SimplePolicy, ToolCallDecision
from luthien_litellm_plugin.types import RequestMessage, ToolCall


class BlockToolsOptions(BaseModel):
    """Options of `block_tools`."""

    model_config = ConfigDict(extra="forbid")

    tools: list[str] = Field(default_factory=list, description="Tool (function) names to block.")
    case_sensitive_names: bool = Field(
        default=False, description="Match `tools` exactly; by default `Bash` and `bash` are the same tool."
    )
    arguments_pattern: str | None = Field(
        default=None,
        description=(
            "Regular expression searched in the arguments as sent and in every string they decode to "
            "(JSON values and keys, escapes resolved); a match blocks the call."
        ),
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

    Every tool-call shape counts: function `tool_calls`, OpenAI custom (free-form) tool calls and
    the legacy `function_call`. A blocked call never reaches the client: it is replaced by a short
    text saying which tool was blocked and why, and the rest of the response is kept
    (`finish_reason` becomes `stop` if no tool call remains). With `block_response: true` the
    whole response is refused instead. Text is held per block while streaming; tool calls are
    decided once complete.
    """

    Options = BlockToolsOptions

    def __init__(self, options: BlockToolsOptions) -> None:
        self.options = options
        self._tools = frozenset(self._name_key(name) for name in options.tools)
        self._pattern = re.compile(options.arguments_pattern) if options.arguments_pattern else None

    def _name_key(self, name: str) -> str:
        return name if self.options.case_sensitive_names else name.casefold()

    def reason_to_block(self, tool_call: ToolCall) -> str | None:
        if self._name_key(tool_call.name) in self._tools:
            return f"tool '{tool_call.name}' is not allowed"
        if self._pattern is None:
            return None
        try:
            matched = any(self._pattern.search(text) for text in _texts_to_match(tool_call))
        except RecursionError:  # fail closed: what cannot be checked is not let through
            return f"arguments of '{tool_call.name}' are nested too deeply to check against /{self._pattern.pattern}/"
        if matched:
            return f"arguments of '{tool_call.name}' match /{self._pattern.pattern}/"
        return None

    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCallDecision:
        reason = self.reason_to_block(tool_call)
        if reason is None:
            return tool_call
        if self.options.block_response:
            self.block(reason)
        return f"\n[{self.name}: blocked a call to '{tool_call.name}': {reason}]"


def _texts_to_match(tool_call: ToolCall) -> Iterator[str]:
    """The arguments text as sent, then (JSON arguments) every decoded string, keys included.

    A custom tool's input is free text: only the text itself. Arguments that are not JSON are
    matched as sent only (a client cannot decode them either). Raises RecursionError when the
    JSON is nested deeper than the parser goes.
    """
    yield tool_call.arguments
    if tool_call.type == "custom":
        return
    try:
        decoded = json.loads(tool_call.arguments)
    except ValueError:
        return
    pending: list[object] = [decoded]
    while pending:  # iterative: no recursion limit on how deep the arguments go
        value = pending.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
