"""The policy-facing end of a stream: whatever policies emit leaves well-formed.

The framework, not each policy, owns the egress invariants: the first chunk
carries `role`; `finish_reason` comes exactly once, alone, after every content and tool-call
delta, followed only by usage; tool calls get indices 0, 1, 2… in emission order; a stream
whose tool calls (or legacy `function_call`) were all removed finishes with `stop`. Chunks are
copied only when one of these rules requires a change.
"""

from __future__ import annotations

from collections.abc import Callable

from litellm.types.utils import (
    ChatCompletionDeltaCustomToolCall,
    ChatCompletionDeltaToolCall,
    ModelResponseStream,
    StreamingChoices,
)

from luthien_litellm_plugin.chunks import (
    create_finish_chunk,
    delta_of,
    field_of,
    finish_reason_of,
    function_call_of,
    has_payload,
    separate_finish,
    single_choice,
    tool_calls_of,
    usage_of,
    with_delta,
)
from luthien_litellm_plugin.errors import UnsupportedStreamError
from luthien_litellm_plugin.streaming.egress_validator import EgressValidator

DeltaToolCall = ChatCompletionDeltaToolCall | ChatCompletionDeltaCustomToolCall
CHAT_KEEPALIVE = b": ping\n\n"
"""The keepalive of a chat stream: an SSE comment, what LiteLLM itself sends as one
(`sse_keepalive_ping_interval_seconds`). SSE clients (the openai SDKs, `EventSource`) skip comment
lines; LiteLLM writes bytes a hook yields to the client verbatim."""
EmitObserver = Callable[[ModelResponseStream], None]


class EgressStream:
    """Normalizes the chunks a policy releases; `take()` hands over what is ready to send.

    Leading chunks with nothing to show (a role-only first chunk) are held until the first
    chunk with content, so a policy that blocks before emitting anything still produces a real
    HTTP error rather than a started 200 stream.
    """

    def __init__(self, observer: EmitObserver, validator: EgressValidator | None = None) -> None:
        self._observer = observer
        self._validator = validator
        self._out: list[ModelResponseStream] = []
        self._started = False
        self._held: list[ModelResponseStream] = []
        self._finish_chunk: ModelResponseStream | None = None
        self._usage_chunks: list[ModelResponseStream] = []
        self._served_index: dict[tuple[bool, object], int] = {}
        self._function_call_served = False
        self._finished = False
        self.template: ModelResponseStream | None = None
        """The last chunk put; id/model/created source for chunks the framework builds."""

    @property
    def started(self) -> bool:
        """True once a chunk with content went out to the client."""
        return self._started

    @property
    def tool_call_count(self) -> int:
        return len(self._served_index)

    def take(self) -> list[ModelResponseStream]:
        """The chunks ready to go to the client since the last call, in order."""
        out, self._out = self._out, []
        return out

    def put(self, chunk: ModelResponseStream, *, built: bool = True) -> None:
        if self._finished:
            raise RuntimeError("a chunk was emitted after the stream finished")
        self.template = chunk
        choice = single_choice(chunk)
        if choice is None or (usage_of(chunk) is not None and not self._carries_stream_content(choice)):
            self._usage_chunks.append(chunk)  # usage goes out after the finish chunk
            return
        if finish_reason_of(choice) is not None:
            if not has_payload(delta_of(choice)):
                self._finish_chunk = chunk
                return
            chunk, self._finish_chunk = separate_finish(chunk, choice)
            choice = chunk.choices[0]
        if tool_calls_of(delta_of(choice)):
            chunk = self._reindexed(chunk, choice, built)
        elif function_call_of(delta_of(choice)) is not None:
            self._function_call_served = True
        if self._started:
            self._send(chunk)
        elif has_payload(delta_of(choice)):
            self._start(chunk)
        else:
            self._held.append(chunk)

    @staticmethod
    def _carries_stream_content(choice: StreamingChoices) -> bool:
        return finish_reason_of(choice) is not None or has_payload(delta_of(choice))

    def finish(self, upstream_finish_reason: str | None) -> None:
        """Send the single finish chunk, then usage. Call once, after the policy is done."""
        if self._finished:
            return
        finish = self._finish(upstream_finish_reason)
        if not self._started:
            self._start(finish)
        else:
            self._send(finish)
        for usage_chunk in self._usage_chunks:
            self._send(usage_chunk)
        self._finished = True

    def _finish(self, upstream_finish_reason: str | None) -> ModelResponseStream:
        chunk = self._finish_chunk
        reason = upstream_finish_reason or "stop"
        if chunk is not None:
            choice = chunk.choices[0]
            reason = finish_reason_of(choice) or reason
        if (reason == "tool_calls" and not self._served_index) or (
            reason == "function_call" and not self._function_call_served
        ):
            reason = "stop"
        if chunk is None:
            return create_finish_chunk(reason, like=self.template)
        if reason != finish_reason_of(choice):
            return chunk.model_copy(update={"choices": [choice.model_copy(update={"finish_reason": reason})]})
        return chunk

    def _start(self, first: ModelResponseStream) -> None:
        self._started = True
        held, self._held = self._held, []
        chunks = [*held, first]
        chunks[0] = _with_role(chunks[0])
        for chunk in chunks:
            self._send(chunk)

    def _send(self, chunk: ModelResponseStream) -> None:
        self._observer(chunk)
        if self._validator is not None:
            self._validator.check(chunk)
        self._out.append(chunk)

    def _reindexed(self, chunk: ModelResponseStream, choice: StreamingChoices, built: bool) -> ModelResponseStream:
        calls = tool_calls_of(delta_of(choice)) or []
        renumbered = [self._renumbered(call, built) for call in calls]
        if all(new is old for new, old in zip(renumbered, calls, strict=True)):
            return chunk
        return with_delta(chunk, choice, tool_calls=renumbered)

    def _renumbered(self, call: DeltaToolCall, built: bool) -> DeltaToolCall:
        """Served indices are 0, 1, 2… in the order calls start. An upstream call is known by its
        upstream index (its later deltas carry no id); a built one by its id."""
        key = (built, call.id if built else call.index)
        index = self._served_index.get(key)
        if index is None:
            _check_first_delta(call)
            index = self._served_index[key] = len(self._served_index)
        if index == call.index:
            return call
        return call.model_copy(update={"index": index})


def _check_first_delta(call: DeltaToolCall) -> None:
    """A client can only start a tool call it can name and answer."""
    name = call.function.name if isinstance(call, ChatCompletionDeltaToolCall) else call.custom.name
    if not call.id or not name:
        raise UnsupportedStreamError(f"tool call {call.index} would be served without its id and name")


def _with_role(chunk: ModelResponseStream) -> ModelResponseStream:
    choice = single_choice(chunk)
    if choice is None or field_of(delta_of(choice), "role"):
        return chunk
    return with_delta(chunk, choice, role="assistant")
