"""One stream through a chain of policies: what each releases is the next one's upstream."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Generic, TypeVar

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.chunks import delta_of, single_choice, tool_calls_of, with_delta
from luthien_litellm_plugin.orchestration.policy_stream import PolicyStream
from luthien_litellm_plugin.streaming.forwarded import ForwardedText, StreamItem
from luthien_litellm_plugin.streaming.holds import Changes

Chunk = ModelResponseStream
Out = TypeVar("Out")

BUILT_TOOL_CALL_INDEX = 1 << 20
"""Where the indices of tool calls a policy inside a chain builds start: far above any upstream
index, so the next policy never mistakes one for a delta of an upstream call. The chain's last
egress numbers the calls the client sees 0, 1, 2…"""


class ChainLink:
    """The egress of a policy inside a chain. It keeps every chunk as it is (so an upstream chunk
    stays that very chunk, and `/v1/messages` can still send its exact bytes) and in order; the
    wire rules are the last egress's job."""

    def __init__(self) -> None:
        self._out: list[StreamItem] = []
        self._built_calls = 0
        self.template: Chunk | None = None

    @property
    def started(self) -> bool:
        return False  # nothing reaches the client from here

    def put(self, chunk: Chunk, *, built: bool) -> None:
        self.template = chunk
        self._out.append(self._reindexed(chunk) if built else chunk)

    def forward_text(self, delta: ForwardedText) -> None:
        """Hand a text delta no member of the chain reads to the next one, as it came."""
        self._out.append(delta)

    def finish(self, upstream_finish_reason: str | None) -> None:
        """Nothing to add: the upstream's finish chunk, if any, went on in its place."""

    def take(self) -> list[StreamItem]:
        out, self._out = self._out, []
        return out

    def _reindexed(self, chunk: Chunk) -> Chunk:
        choice = single_choice(chunk)
        calls = tool_calls_of(delta_of(choice)) if choice is not None else None
        if not calls or choice is None:
            return chunk
        renumbered = []
        for call in calls:
            renumbered.append(call.model_copy(update={"index": BUILT_TOOL_CALL_INDEX + self._built_calls}))
            self._built_calls += 1
        return with_delta(chunk, choice, tool_calls=renumbered)


class ChainStream(Generic[Out]):
    """A stream processor running `links` (policies whose egress is a `ChainLink`) and then
    `last` (the policy whose egress is the client's).

    Every chunk a policy releases is fed to the next one at once, so text all of them forward
    flows as it arrives. A policy's upstream ends when the previous policy finished: after its
    own end and once nothing it holds is pending. All policies share one `Changes`, so a decision
    in any of them wakes the runtime, whose `pump` carries what it released down the chain.
    """

    def __init__(self, links: Sequence[PolicyStream[StreamItem]], last: PolicyStream[Out], changes: Changes) -> None:
        self._links = list(links)
        self._last = last
        self._stages: list[PolicyStream[StreamItem] | PolicyStream[Out]] = [*links, last]
        self._changes = changes
        self._input_ended = [False] * len(self._stages)
        self._closed = [False] * len(self._stages)
        self._finished = [False] * len(self._links)

    @property
    def forwards_text(self) -> bool:
        """Whether text deltas may come as `ForwardedText`: no policy of the chain reads text."""
        return all(stage.forwards_text for stage in self._stages)

    async def feed(self, chunk: StreamItem) -> None:
        await self._stages[0].feed(chunk)
        await self.pump()

    async def close(self) -> None:
        self._input_ended[0] = True
        await self.pump()

    @property
    def holding(self) -> bool:
        return self._changes.pending or any(stage.holding for stage in self._stages)

    def changed(self) -> Awaitable[bool]:
        return self._changes.wait()

    async def pump(self) -> None:
        """Carry what each policy released into the next one; close and finish policies whose
        upstream ended, in order."""
        self._changes.clear()
        for position, link in enumerate(self._links):
            await self._hand_on(position)
            if self._input_ended[position] and not self._closed[position]:
                self._closed[position] = True
                await link.close()
                await self._hand_on(position)
            if self._closed[position] and not self._finished[position] and not link.holding:
                self._finished[position] = True
                link.finish()
                await self._hand_on(position)
                self._input_ended[position + 1] = True
        last = len(self._links)
        if self._input_ended[last] and not self._closed[last]:
            self._closed[last] = True
            await self._last.close()

    def busy_until(self) -> float:
        return max(stage.busy_until() for stage in self._stages)

    def check(self) -> None:
        for stage in self._stages:
            stage.check()

    def finish(self) -> None:
        self._last.finish()

    def discard(self) -> None:
        for stage in self._stages:
            stage.discard()

    def take(self) -> list[Out]:
        return self._last.take()

    async def _hand_on(self, position: int) -> None:
        released = self._links[position].egress.take()
        following = self._stages[position + 1]
        for chunk in released:
            await following.feed(chunk)
