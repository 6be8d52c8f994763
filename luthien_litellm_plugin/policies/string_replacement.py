"""string_replacement: replaces strings in the response text, also when split across chunks."""

from __future__ import annotations

import re

from litellm.types.utils import ModelResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from luthien_litellm_plugin.policies.policy import Policy, PolicyContext
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.streaming.helpers import drop_block, send_text
from luthien_litellm_plugin.types import RequestMessage


class Replacement(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", min_length=1)
    to: str


class StringReplacementOptions(BaseModel):
    """Options of `string_replacement`."""

    model_config = ConfigDict(extra="forbid")

    replacements: list[Replacement] = Field(min_length=1, description="Pairs `{from: ..., to: ...}`.")
    case_sensitive: bool = Field(default=True, description="False: `from` matches regardless of case.")

    @model_validator(mode="after")
    def _distinct(self) -> StringReplacementOptions:
        keys = [r.from_ if self.case_sensitive else r.from_.lower() for r in self.replacements]
        if len(set(keys)) != len(keys):
            raise ValueError("each `from` string may appear only once")
        return self


class Replacer:
    """Applies the replacements to text that arrives in pieces.

    Text is released as soon as no replacement could still start in it: only the last
    (longest `from` − 1) characters are held back. The result equals replacing in the whole
    text at once (leftmost match; the longest `from` wins at one position).
    """

    def __init__(self, options: StringReplacementOptions) -> None:
        ordered = sorted(options.replacements, key=lambda r: len(r.from_), reverse=True)
        flags = 0 if options.case_sensitive else re.IGNORECASE
        self._regex = re.compile("|".join(re.escape(r.from_) for r in ordered), flags)
        self._targets = {r.from_ if options.case_sensitive else r.from_.lower(): r.to for r in ordered}
        self._case_sensitive = options.case_sensitive
        self.longest = len(ordered[0].from_)

    def replace_all(self, text: str) -> str:
        return self._regex.sub(self._target, text)

    def feed(self, pending: str, final: bool) -> tuple[str, str]:
        """(text safe to release now, with replacements; text still held)."""
        out: list[str] = []
        position = 0
        hold_from = len(pending) if final else max(0, len(pending) - self.longest + 1)
        for match in self._regex.finditer(pending):
            if not final and match.start() + self.longest > len(pending):
                hold_from = min(hold_from, match.start())
                break
            out.append(pending[position : match.start()])
            out.append(self._target(match))
            position = match.end()
        hold_from = max(hold_from, position)
        out.append(pending[position:hold_from])
        return "".join(out), pending[hold_from:]

    def _target(self, match: re.Match[str]) -> str:
        found = match.group(0)
        return self._targets[found if self._case_sensitive else found.lower()]


class StringReplacementPolicy(Policy):
    """Replaces each `from` string with its `to` string in the assistant's text.

    While streaming, text flows almost as it arrives: only the last few characters (the length
    of the longest `from` minus one) are held, so a match split across chunks is still caught.
    Tool calls and other chunks pass unchanged. Non-streaming responses give the same text.
    """

    Options = StringReplacementOptions
    _STATE = "string_replacement.block"

    def __init__(self, options: StringReplacementOptions) -> None:
        self.options = options
        self.replacer = Replacer(options)

    async def on_content_delta(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
        await self._release(ctx, block.last_delta, final=False)

    async def on_content_complete(self, ctx: StreamingResponseContext, block: ContentStreamBlock) -> None:
        await drop_block(ctx, block)  # its text went out through `_release`, replaced
        await self._release(ctx, "", final=True)
        ctx.scratchpad.pop(self._STATE, None)

    async def _release(self, ctx: StreamingResponseContext, new_text: str, final: bool) -> None:
        pending = ctx.scratchpad.get(self._STATE, "")
        assert isinstance(pending, str)
        ready, ctx.scratchpad[self._STATE] = self.replacer.feed(pending + new_text, final)
        if ready:
            await send_text(ctx, ready)

    async def process_full_response(self, response: ModelResponse, context: PolicyContext) -> ModelResponse:
        return await _TextOnly(self.replacer).process_full_response(response, context)


class _TextOnly(SimplePolicy):
    def __init__(self, replacer: Replacer) -> None:
        self._replacer = replacer

    async def on_response_content(self, content: str, request: RequestMessage) -> str:
        return self._replacer.replace_all(content)
