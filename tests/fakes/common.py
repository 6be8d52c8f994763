"""Pieces both fake upstreams share: request records, seeded ids, SSE encoding, a scripted response."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import string
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tests.fakes.scenarios import Failure, Options, Provider, Writes, parse_options

if TYPE_CHECKING:
    from tests.fakes.judge_upstream import JudgeCall

JSON = dict[str, Any]
Outcome = Literal["pending", "completed", "aborted", "client_disconnected"]
Ending = Literal["complete", "abort", "hang"]
CREATED = 1735689600
"""Fixed `created` timestamp of every response."""
_ALNUM = string.ascii_letters + string.digits


class UpstreamAbort(Exception):
    """Raised after the response started, so uvicorn closes the connection without finishing it."""


class _HideAborts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], UpstreamAbort))


_HIDE_ABORTS = _HideAborts()
logging.getLogger("uvicorn.error").addFilter(_HIDE_ABORTS)


@dataclass
class RecordedRequest:
    """One request the fake received, and how its response ended."""

    path: str
    headers: dict[str, str]
    body: JSON
    options: Options
    outcome: Outcome = "pending"
    finished: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def scenario(self) -> str:
        return self.options.scenario

    def finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.finished.set()


class Ids:
    """Realistic-looking ids, each derived from a seed and its own name (so the order of use is free)."""

    def __init__(self, seed: str) -> None:
        self.seed = seed

    def _token(self, name: str, length: int, alphabet: str = _ALNUM) -> str:
        rng = random.Random(f"{self.seed}:{name}")
        return "".join(rng.choice(alphabet) for _ in range(length))

    def chatcmpl(self) -> str:
        return "chatcmpl-" + self._token("chatcmpl", 29)

    def call(self, index: int) -> str:
        return "call_" + self._token(f"call:{index}", 24)

    def msg(self) -> str:
        return "msg_01" + self._token("msg", 22)

    def toolu(self, index: int) -> str:
        return "toolu_01" + self._token(f"toolu:{index}", 22)

    def request(self) -> str:
        return "req_01" + self._token("request", 22)

    def resp(self) -> str:
        return "resp_" + self._token("resp", 48, "0123456789abcdef")

    def item(self, prefix: str, index: int) -> str:
        """A Responses output item id: `msg_…`, `fc_…`, `rs_…` (one per output index)."""
        return f"{prefix}_" + self._token(f"item:{prefix}:{index}", 48, "0123456789abcdef")

    def obfuscation(self, index: int) -> str:
        """The padding OpenAI adds to Responses delta events (`obfuscation`)."""
        return self._token(f"obfuscation:{index}", 2 + index % 13)

    def fingerprint(self) -> str:
        return "fp_" + self._token("fingerprint", 10, "0123456789abcdef")


@dataclass
class UpstreamState:
    """What the endpoints of one running server share."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[RecordedRequest] = field(default_factory=list)
    default_writes: dict[Provider, Writes] = field(
        default_factory=lambda: {"openai": "aligned", "anthropic": "coalesced", "responses": "coalesced"}
    )
    seen: Counter[str] = field(default_factory=Counter)
    stored_responses: dict[str, JSON] = field(default_factory=dict)
    """Responses API objects kept for `GET /v1/responses/{id}` (as OpenAI keeps them unless `store: false`)."""
    judge_calls: list[JudgeCall] = field(default_factory=list)
    """What the fake judge model was asked (`tests.fakes.judge_upstream`)."""
    judge_gate: asyncio.Event = field(default_factory=asyncio.Event)
    """`judge-gated` answers once this is set."""

    def __post_init__(self) -> None:
        self.judge_gate.set()

    async def record(self, request: Request) -> tuple[RecordedRequest, Ids]:
        """Read and remember the request, and seed its ids.

        The seed is the body without `stream`/`stream_options`, plus how often this exact body
        came before: the streamed and the non-streamed request of the same conversation get the
        same ids (so their results compare equal), a repeated request gets new ones. A `seed:`
        knob in the request replaces all of that.
        """
        body = await request.json()
        recorded = RecordedRequest(request.url.path, dict(request.headers), body, parse_options(body))
        self.requests.append(recorded)
        content = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        key = dumps([request.url.path, body])
        self.seen[key] += 1
        seed = hashlib.sha256(dumps([content, self.seen[key]]).encode()).hexdigest()
        if recorded.options.seed is not None:  # the `seed:` knob: the same ids every time
            seed = hashlib.sha256(recorded.options.seed.encode()).hexdigest()
        return recorded, Ids(seed)


def dumps(data: Any) -> str:
    """Compact JSON, as both providers send it."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def sse(data: JSON | str, event: str | None = None) -> bytes:
    """One SSE event: optional `event:` line, one `data:` line, blank line."""
    payload = data if isinstance(data, str) else dumps(data)
    return ((f"event: {event}\n" if event else "") + f"data: {payload}\n\n").encode()


def coalesce_writes(events: Sequence[bytes]) -> list[bytes]:
    """Group events into TCP writes the way real Anthropic (and OpenAI Responses) streams arrive.

    The first write carries everything up to the first content delta (Anthropic: message_start,
    content_block_start, ping, delta; Responses: response.created, response.in_progress,
    output_item.added, ..., delta); after that the writes cycle through: an event split in the
    middle of its JSON, an event whole, two events in one write, an event whose final newline
    comes in the next write.
    """
    first = next((i for i, e in enumerate(events) if e.split(b"\n", 1)[0].endswith(b"delta")), 0)
    writes = [b"".join(events[: first + 1])]
    rest = list(events[first + 1 :])
    step = 0
    while rest:
        event = rest.pop(0)
        kind = step % 4
        step += 1
        if kind == 0 and len(event) > 2:
            writes += [event[: len(event) // 2], event[len(event) // 2 :]]
        elif kind == 2 and rest:
            writes.append(event + rest.pop(0))
        elif kind == 3:
            writes += [event[:-1], event[-1:]]
        else:
            writes.append(event)
    return writes


class ScriptedResponse(Response):
    """Send `writes` one by one (paced), then finish, drop the connection, or hang until shutdown.

    A client disconnect stops the writing and is recorded; so is the way the response ended.
    The status line and headers go out with the first write (never, for a hang without writes).
    """

    def __init__(
        self,
        state: UpstreamState,
        recorded: RecordedRequest,
        writes: Sequence[bytes],
        *,
        status_code: int = 200,
        media_type: str = "text/event-stream; charset=utf-8",
        headers: dict[str, str] | None = None,
        ending: Ending = "complete",
    ) -> None:
        self.state = state
        self.recorded = recorded
        self.writes = list(writes)
        self.ending = ending
        self.delay = recorded.options.chunk_delay_ms / 1000
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)
        self._started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        writer = asyncio.ensure_future(self._write(send))
        watcher = asyncio.ensure_future(_until_disconnect(receive))
        try:
            await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not writer.done():
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
                self.recorded.finish("client_disconnected")
                return
            if writer.result() == "abort":
                self.recorded.finish("aborted")
                raise UpstreamAbort(f"fake upstream dropped the connection ({self.recorded.scenario})")
            await self._start(send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            self.recorded.finish("completed")
        finally:
            watcher.cancel()
            writer.cancel()
            if not self.recorded.finished.is_set():
                self.recorded.finish("aborted")

    async def _start(self, send: Send) -> None:
        if not self._started:
            self._started = True
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})

    async def _write(self, send: Send) -> Ending:
        for position, chunk in enumerate(self.writes):
            if position and self.delay and await _stopped_within(self.state.stop, self.delay):
                return "abort"
            await self._start(send)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if self.ending == "hang":
            await self.state.stop.wait()
            return "abort"
        return self.ending


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Pause the stream (pacing, not test synchronisation); True if the server is shutting down."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


def _ending(failure: Failure | None) -> Ending:
    return "abort" if failure == "disconnect" else "hang" if failure == "hang" else "complete"


def json_response(
    state: UpstreamState,
    recorded: RecordedRequest,
    data: JSON,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    failure: Failure | None = None,
) -> ScriptedResponse:
    """A JSON body; `disconnect` sends half of it then drops the connection, `hang` sends nothing."""
    payload = dumps(data).encode()
    writes = {"disconnect": [payload[: len(payload) // 2]], "hang": []}.get(failure or "", [payload])
    return ScriptedResponse(
        state,
        recorded,
        writes,
        status_code=status_code,
        media_type="application/json",
        headers={**(headers or {}), "content-length": str(len(payload))},
        ending=_ending(failure),
    )


def sse_response(
    state: UpstreamState,
    recorded: RecordedRequest,
    events: Sequence[bytes],
    provider: Provider,
    *,
    headers: dict[str, str] | None = None,
    failure: Failure | None = None,
) -> ScriptedResponse:
    """An event stream, written one event per write or coalesced (`writes:` knob, else the server default)."""
    mode = recorded.options.writes or state.default_writes[provider]
    writes = coalesce_writes(events) if mode == "coalesced" else list(events)
    return ScriptedResponse(state, recorded, writes, headers=headers, ending=_ending(failure))
