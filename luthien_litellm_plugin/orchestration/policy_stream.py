"""One stream through one policy: blocks assembled, hooks called, decisions released."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.chunks import finish_reason_of, single_choice, split_chunk
from luthien_litellm_plugin.errors import LuthienError, PolicyError
from luthien_litellm_plugin.policies.policy import Policy, StreamHooks, fail_closed
from luthien_litellm_plugin.streaming.assembler import StreamingChunkAssembler
from luthien_litellm_plugin.streaming.blocks import ContentStreamBlock, StreamBlock, ToolCallStreamBlock
from luthien_litellm_plugin.streaming.context import StreamingResponseContext
from luthien_litellm_plugin.streaming.forwarded import ForwardedText, StreamItem
from luthien_litellm_plugin.streaming.holds import Changes, Holds
from luthien_litellm_plugin.streaming.release import Egress, Release

Chunk = ModelResponseStream
Out = TypeVar("Out")


class OutputEgress(Egress, Protocol[Out]):
    def take(self) -> list[Out]: ...


class PolicyStream(Generic[Out]):
    """Feeds upstream chunks to the policy's streaming hooks and releases what it decides.

    A policy with no streaming hooks (a passthrough) skips block assembly: each chunk goes
    straight to the egress. Otherwise only the hooks the policy implements are called.

    A policy that reads no text (no content hook, no `on_chunk_received`) may get text deltas
    as `ForwardedText` (an ingress makes those only for such a policy): recorded with
    `observe_ingress_text`, assembled and released in stream order like chunks, and sent by
    `forward` as the upstream's own events.
    """

    def __init__(
        self,
        policy: Policy,
        egress: OutputEgress[Out],
        context: Callable[[StreamingChunkAssembler, Release, Holds], StreamingResponseContext],
        observe_ingress: Callable[[Chunk], None],
        changes: Changes | None = None,
        forward: Callable[[ForwardedText], None] | None = None,
        observe_ingress_text: Callable[[str], None] | None = None,
    ) -> None:
        self.policy = policy
        self.egress = egress
        self.hooks: StreamHooks = policy.stream_hooks()
        # Asked per chunk: answered once (`none` compares every hook).
        self._no_hooks = self.hooks.none
        self._reads_text = self.hooks.reads_text
        self.assembler = StreamingChunkAssembler(
            owns_content=self.hooks.owns_content, owns_tool_calls=self.hooks.owns_tool_calls
        )
        self.release = Release(self.assembler.state, egress, forward)
        self.holds = Holds(self.release, changes)
        self.ctx = context(self.assembler, self.release, self.holds)
        self._observe_ingress = observe_ingress
        self._observe_ingress_text = observe_ingress_text
        self._forward = forward
        self._finish_reason: str | None = None

    @property
    def forwards_text(self) -> bool:
        """Whether text deltas may come as `ForwardedText`: the policy reads none, and there is
        somewhere to send and record them."""
        return self._forward is not None and self._observe_ingress_text is not None and not self._reads_text

    async def feed(self, chunk: StreamItem) -> None:
        if isinstance(chunk, ForwardedText):
            await self._feed_text(chunk)
            return
        self._observe_ingress(chunk)
        if self._no_hooks:
            choice = single_choice(chunk)
            if choice is not None and finish_reason_of(choice) is not None:
                self._finish_reason = finish_reason_of(choice)
            self.egress.put(chunk, built=False)
            return
        for part in split_chunk(chunk):
            await self._feed_part(part)

    async def close(self) -> None:
        """The upstream ended: complete its open blocks, let the policy finish."""
        if not self._no_hooks:
            await self._complete_all(self.assembler.close())
            if self.hooks.stream_complete:
                await self._call(self.policy.on_stream_complete(self.ctx))
            self.release.flush()
            self._finish_reason = self.assembler.state.finish_reason

    @property
    def holding(self) -> bool:
        """Some block awaits a decision (`hold_block`)."""
        return self.holds.pending

    def changed(self) -> Awaitable[bool]:
        return self.holds.changes.wait()

    async def pump(self) -> None:
        """A decision's release went to the egress when it arrived: nothing to hand on."""
        self.holds.changes.clear()

    def busy_until(self) -> float:
        return self.holds.busy_until()

    def check(self) -> None:
        """Raise the failure of a held block's decision (as a PolicyError: fail closed)."""
        failure = self.holds.failure
        if failure is None:
            return
        if isinstance(failure, LuthienError):
            raise failure
        raise PolicyError(self.policy.name, failure) from failure

    def finish(self) -> None:
        """End the stream (after every held block was decided)."""
        self.egress.finish(self._finish_reason)

    def discard(self) -> None:
        """The stream ended early: stop deciding held blocks."""
        self.holds.cancel()

    def take(self) -> list[Out]:
        return self.egress.take()

    async def _feed_text(self, delta: ForwardedText) -> None:
        forward, observe = self._forward, self._observe_ingress_text
        if forward is None or observe is None or self._reads_text:  # not `forwards_text`; narrows both
            raise TypeError(f"policy '{self.policy.name}' reads the stream: its text must come as chunks")
        observe(delta.text)
        if self._no_hooks:
            forward(delta)
            return
        completed = self.assembler.add(delta)
        if completed:  # text after tool calls: they are complete
            await self._complete_all(completed)
        self.release.flush()

    async def _feed_part(self, part: Chunk) -> None:
        hooks, policy, ctx = self.hooks, self.policy, self.ctx
        completed = self.assembler.add(part)
        if hooks.chunk_received:
            await self._call(policy.on_chunk_received(ctx))
        if completed:
            await self._complete_all(completed)
        block = self.assembler.state.current_block
        if block is not None and block.decision == "undecided":
            if isinstance(block, ContentStreamBlock) and hooks.content_delta:
                await self._in_place_of(block, policy.on_content_delta(ctx, block))
            elif isinstance(block, ToolCallStreamBlock) and hooks.tool_call_delta:
                await self._in_place_of(block, policy.on_tool_call_delta(ctx, block))
        if hooks.finish_reason and part.choices and finish_reason_of(part.choices[0]) is not None:
            await self._call(policy.on_finish_reason(ctx))
        self.release.flush()

    async def _complete_all(self, blocks: list[StreamBlock]) -> None:
        for block in blocks:
            if block.decision == "undecided":
                await self._complete(block)

    async def _complete(self, block: StreamBlock) -> None:
        hook = self._completion_hook(block)
        if hook is not None:
            state = self.assembler.state
            state.just_completed = block
            try:
                await self._in_place_of(block, hook)
            finally:
                state.just_completed = None
        if block.decision == "undecided":  # neither dropped nor held: it goes out as it came
            block.decision = "pass"

    async def _in_place_of(self, block: StreamBlock, hook: Awaitable[None]) -> None:
        """Run a hook of `block`: what it sends goes out in the block's place."""
        release = self.release
        release.anchor = block
        try:
            await self._call(hook)
        finally:
            release.anchor = None

    def _completion_hook(self, block: StreamBlock) -> Awaitable[None] | None:
        if isinstance(block, ContentStreamBlock) and self.hooks.content_complete:
            return self.policy.on_content_complete(self.ctx, block)
        if isinstance(block, ToolCallStreamBlock) and self.hooks.tool_call_complete:
            return self.policy.on_tool_call_complete(self.ctx, block)
        return None

    async def _call(self, hook: Awaitable[None]) -> None:
        await fail_closed(self.policy, hook)
