"""A scripted judge model (an `LLMClient`) for the judge policies' unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from litellm.types.utils import ModelResponse, ModelResponseStream

from luthien_litellm_plugin.llm.client import LLMClient
from luthien_litellm_plugin.types import RequestMessage

Answer = Callable[[str], str]
"""The judge's answer to a prompt (may raise, like a failing model call)."""


def danger_verdict(prompt: str) -> str:
    if "rm -rf" in prompt.split("<arguments>")[-1]:
        return '{"probability": 0.9, "explanation": "deletes files"}'
    return '{"probability": 0.1, "explanation": "harmless"}'


class ScriptedJudge(LLMClient):
    """Answers each prompt with `answer(prompt)`; with `gate`, only once the gate is set.
    `asked` holds the prompts in arrival order; `waiting` counts calls waiting at the gate."""

    def __init__(self, answer: Answer = danger_verdict, gate: asyncio.Event | None = None) -> None:
        self.answer = answer
        self.gate = gate
        self.asked: list[str] = []
        self.models: list[str] = []
        self.waiting = 0
        self.arrived = asyncio.Event()

    async def complete(self, request: RequestMessage) -> ModelResponse:
        prompt = str(request.messages[-1]["content"])
        self.asked.append(prompt)
        self.models.append(request.model)
        self.arrived.set()
        if self.gate is not None:
            self.waiting += 1
            try:
                await self.gate.wait()
            finally:
                self.waiting -= 1
        text = self.answer(prompt)
        return ModelResponse(choices=[{"index": 0, "message": {"role": "assistant", "content": text}}])

    def stream(self, request: RequestMessage) -> AsyncIterator[ModelResponseStream]:
        raise NotImplementedError("judges do not stream")
