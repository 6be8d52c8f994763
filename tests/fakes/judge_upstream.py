"""A fake judge model: OpenAI chat completions at `/judge/v1/chat/completions`, answering the
verdicts `tool_call_judge` and `llm_rule` ask for, from what they ask.

`tool_call_judge` prompts (the tool call between `<arguments>` tags): probability 0.97 when the
arguments contain `rm -rf`, 0.03 otherwise. `llm_rule` prompts (a `<rule>` and the `<output>` to
check): `block` when the output contains `rm -rf`, a `replace` with every `sk-live-…` key (any
case) turned into `[redacted]`, else `pass`.

The model name picks the behaviour: `judge` answers at once; `judge-chatty` wraps the JSON in a
code fence and prose; `judge-slow-<ms>` answers after that many milliseconds; `judge-500` fails
with HTTP 500; `judge-garbage` answers prose without JSON; `judge-gated` answers once the test
opens the gate (`FakeUpstream.open_judge_gate`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.common import CREATED, UpstreamState

DANGER = "rm -rf"
KEY = re.compile(r"sk-live-\w+", re.IGNORECASE)


@dataclass
class JudgeCall:
    """One request the fake judge received."""

    model: str
    prompt: str
    received: float = field(default_factory=time.monotonic)
    answered: float | None = None
    answer: str | None = None


def _between(text: str, start: str, end: str) -> str | None:
    found = re.search(re.escape(start) + r"\n?(.*?)\n?" + re.escape(end), text, re.DOTALL)
    return found.group(1) if found else None


def verdict_for(prompt: str) -> dict[str, object]:
    """What the judge says about a prompt of `tool_call_judge` or `llm_rule`."""
    output = _between(prompt, "<output>", "</output>")
    if "<rule>" in prompt and output is not None:
        if DANGER in output:
            return {"action": "block", "explanation": "the output runs a destructive command"}
        if KEY.search(output):
            return {"action": "replace", "replacement": KEY.sub("[redacted]", output), "explanation": "an API key"}
        return {"action": "pass"}
    arguments = _between(prompt, "<arguments>", "</arguments>") or ""
    if DANGER in arguments:
        return {"probability": 0.97, "explanation": "deletes files recursively"}
    return {"probability": 0.03, "explanation": "a harmless call"}


def _completion(model: str, answer: str) -> dict[str, object]:
    message = {"role": "assistant", "content": answer, "refusal": None}
    return {
        "id": "chatcmpl-judge",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
    }


async def judge_completions(request: Request, state: UpstreamState) -> Response:
    body = await request.json()
    model = str(body.get("model", ""))
    prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []) if isinstance(m, dict))
    call = JudgeCall(model, prompt)
    state.judge_calls.append(call)
    if model == "judge-500":
        error = {"message": "The judge is down.", "type": "server_error", "param": None, "code": None}
        return JSONResponse({"error": error}, status_code=500)
    slow = re.fullmatch(r"judge-slow-(\d+)", model)
    if slow:
        await asyncio.sleep(int(slow.group(1)) / 1000)  # a slow model (pacing, not test synchronisation)
    if model == "judge-gated":
        await state.judge_gate.wait()
    answer = json.dumps(verdict_for(prompt))
    if model == "judge-chatty":
        answer = f"Sure! Here is my verdict:\n```json\n{answer}\n```\nLet me know if you need more."
    elif model == "judge-garbage":
        answer = "I would say this looks mostly fine, probably."
    call.answer, call.answered = answer, time.monotonic()
    return JSONResponse(_completion(model, answer))


def judge_routes(state: UpstreamState) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        return await judge_completions(request, state)

    return [Route("/judge/v1/chat/completions", endpoint, methods=["POST"])]
