"""What a policy that asks an LLM (a judge) needs: ask a model, read a JSON answer, remember
answers for a while, record each verdict. `tool_call_judge` and `llm_rule` are built on these."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from luthien_litellm_plugin.events import POLICY_JUDGE_VERDICT
from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.observability.context import ObservabilityContext
from luthien_litellm_plugin.types import JSONObject, RequestMessage

V = TypeVar("V")
JUDGE_LATENCY = "luthien.judge.latency"
"""Histogram (ms) of judge calls, labelled by `policy` and `judge_model` only."""


class JudgeOptions(BaseModel):
    """The options every judging policy has; each adds its own."""

    model_config = ConfigDict(extra="forbid")

    judge_model: str = Field(min_length=1, description="A model group of the same proxy (or, as a library, a model).")
    timeout_seconds: float = Field(default=10, gt=0)
    on_error: Literal["block", "allow"] = Field(default="block", description="When the judge fails or is unclear.")
    cache_ttl_seconds: float = Field(default=300, ge=0, description="Remember answers this long (0: never).")


class JudgeContext(Protocol):
    """What a judge reads from a hook's context (a `PolicyContext` or a `StreamingResponseContext`)."""

    @property
    def llm(self) -> LLMClient: ...

    @property
    def observability(self) -> ObservabilityContext: ...


class JudgeAnswerError(ValueError):
    """The judge's answer is not what was asked for."""


async def ask_model(llm: LLMClient, model: str, prompt: str, timeout: float) -> str:
    """The text `model` answers to one user message; `TimeoutError` after `timeout` seconds."""
    request = RequestMessage(model=model, messages=[{"role": "user", "content": prompt}])
    async with asyncio.timeout(timeout):
        response = await llm.complete(request)
    message = getattr(response.choices[0], "message", None) if response.choices else None
    content = getattr(message, "content", None)
    if not isinstance(content, str) or not content.strip():
        raise JudgeAnswerError("the judge answered no text")
    return content


def parse_json_object(answer: str) -> JSONObject:
    """The first JSON object in `answer`, which may be wrapped in code fences or surrounded by
    text (`Sure! {"probability": 0.1, …} Hope that helps`)."""
    decoder = json.JSONDecoder()
    start = answer.find("{")
    while start != -1:
        try:
            found, _ = decoder.raw_decode(answer, start)
        except ValueError:
            start = answer.find("{", start + 1)
            continue
        if isinstance(found, dict):
            return found
        start = answer.find("{", start + 1)
    raise JudgeAnswerError(f"no JSON object in the judge's answer: {shorten(answer)}")


def shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_failure(error: Exception, timeout: float) -> str:
    """Why a judge call gave no verdict, in a few words (for the record and the client)."""
    if isinstance(error, TimeoutError):
        return f"the judge did not answer within {timeout:g}s"
    if isinstance(error, JudgeAnswerError):
        return f"unusable judge answer: {error}"
    return f"the judge call failed: {type(error).__name__}: {shorten(str(error))}"


def cache_key(*parts: str) -> str:
    """A fixed-size key for a cache of judge answers (tool calls can be large)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part.encode())
    return digest.hexdigest()


class TTLCache(Generic[V]):
    """At most `size` values, each forgotten `ttl` seconds after it was stored (least recently
    used first when full). In-process, shared by the requests of one worker; `ttl` 0 stores nothing."""

    def __init__(self, ttl: float, size: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        if self.ttl <= 0:
            return
        self._entries[key] = (self._clock() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


@dataclass(frozen=True)
class JudgeVerdict:
    """One judge decision about one block: recorded as a `policy.judge_verdict` event."""

    policy: str
    tool_name: str
    """The judged tool call's name, or "text" for a text block."""
    probability: float | None
    """How likely the judge found the call harmful (None when it gave no probability)."""
    explanation: str
    blocked: bool
    reason: str
    latency_ms: float
    judge_model: str
    """The configured model group."""
    cached: bool
    error: str | None = None
    """Why the judge gave no verdict (the call then was blocked, or allowed with on_error: allow)."""
    action: str | None = None
    """`llm_rule`: pass, replace or block."""

    async def record(self, observability: ObservabilityContext) -> None:
        """The transaction's event (database, live feed, span) and, for a real call, the latency."""
        payload: JSONObject = asdict(self)
        if self.action is None:
            del payload["action"]
        await observability.emit_event(POLICY_JUDGE_VERDICT, payload)
        if not self.cached:
            labels = {"policy": self.policy, "judge_model": self.judge_model}
            observability.record_histogram(JUDGE_LATENCY, self.latency_ms, labels, only=True)


def elapsed_ms(started: float) -> float:
    """Milliseconds since `started` (a `time.perf_counter()` reading), rounded to 0.1 ms."""
    return round((time.perf_counter() - started) * 1000, 1)
