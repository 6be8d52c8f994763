"""Releases a stream's chunks to the egress in stream order, as the policy decides them.

Upstream chunks go out in the order they arrived, each once: a chunk of a block the policy has
not decided yet holds back everything after it; a dropped block's chunks never go out. What
the policy sends goes out where it belongs: in place of the block it is deciding, or after
everything received so far.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from litellm.types.utils import ModelResponseStream

from luthien_litellm_plugin.streaming.blocks import StreamBlock
from luthien_litellm_plugin.streaming.forwarded import ForwardedText
from luthien_litellm_plugin.streaming.state import StreamState


class Egress(Protocol):
    """The client end of a stream: owns the wire's rules, collects what is to be sent."""

    @property
    def started(self) -> bool: ...

    @property
    def template(self) -> ModelResponseStream | None:
        """The last chunk put: id/model/created source for chunks the framework builds."""

    def put(self, chunk: ModelResponseStream, *, built: bool) -> None:
        """Send a chunk: an upstream one (`built=False`) or one a policy built."""

    def finish(self, upstream_finish_reason: str | None) -> None:
        """Send the end of the stream. Called once, after the policy is done."""


class Release:
    """The release cursor over `state.items` (`state.last_emission_index`). A `ForwardedText`
    goes out through `forward`."""

    def __init__(
        self, state: StreamState, egress: Egress, forward: Callable[[ForwardedText], None] | None = None
    ) -> None:
        self.state = state
        self.egress = egress
        self._forward = forward
        self.anchor: StreamBlock | None = None
        """The block whose decision is being made: what the policy sends goes in its place."""
        self._inserts: dict[int, list[ModelResponseStream]] = {}

    def send(self, chunk: ModelResponseStream, in_place_of: StreamBlock | None = None) -> None:
        """Send a chunk the policy built, in place of a block (by default the anchor block), or
        after everything received so far."""
        block = in_place_of or self.anchor
        place = block.parts[0] if block is not None and block.parts else len(self.state.items)
        if place <= self.state.last_emission_index:
            self.egress.put(chunk, built=True)
        else:
            self._inserts.setdefault(place, []).append(chunk)

    def flush(self, *, undecided_too: bool = False) -> None:
        """Send every chunk from the cursor up to the first one whose block is undecided (or, with
        `undecided_too`, up to the latest; held blocks still stop it)."""
        state = self.state
        items, owners, put = state.items, state.owners, self.egress.put
        position, end = state.last_emission_index, len(items)
        inserts = self._inserts
        while position < end:
            owner = owners[position]
            if owner is not None:
                decision = owner.decision
                if decision == "held" or (decision == "undecided" and not undecided_too):
                    break
            if inserts:
                self._send_inserts(position)
            if owner is None or owner.decision != "drop":
                item = items[position]
                if isinstance(item, ForwardedText):
                    self._forward_text(item)
                else:
                    put(item, built=False)
            position += 1
        state.last_emission_index = position
        if inserts and position == end:
            self._send_inserts(position)

    def _forward_text(self, delta: ForwardedText) -> None:
        if self._forward is None:
            raise TypeError("a forwarded text delta reached a stream with nowhere to forward it")
        self._forward(delta)

    def _send_inserts(self, place: int) -> None:
        for chunk in self._inserts.pop(place, ()):
            self.egress.put(chunk, built=True)
