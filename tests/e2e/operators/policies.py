"""A stand-in judge for viewer tests: records `policy.judge_verdict` events the way a judge policy
does (one per tool call) and drops the calls it blocks. Complete (non-streaming) responses only."""

from __future__ import annotations

from litellm.types.utils import ModelResponse

from luthien_litellm_plugin.policies.policy import PolicyContext
from luthien_litellm_plugin.policies.simple_policy import SimplePolicy, ToolCallDecision
from luthien_litellm_plugin.types import RequestMessage, ToolCall

VERDICTS = {
    "bash": (0.97, True, "runs a destructive shell command (rm -rf)"),
}
ALLOWED = (0.04, False, "is a read-only lookup")


class ScriptedJudge(SimplePolicy):
    async def process_full_response(self, response: ModelResponse, context: PolicyContext) -> ModelResponse:
        for choice in response.choices:
            for call in getattr(getattr(choice, "message", None), "tool_calls", None) or []:
                probability, blocked, reason = VERDICTS.get(call.function.name or "", ALLOWED)
                await context.observability.emit_event(
                    "policy.judge_verdict",
                    {
                        "policy": self.name,
                        "tool_name": call.function.name,
                        "probability": probability,
                        "explanation": f"The call {reason}.",
                        "blocked": blocked,
                        "reason": reason if blocked else None,
                        "latency_ms": 412.5,
                        "judge_model": "judge-mini",
                        "cached": False,
                    },
                )
        return await super().process_full_response(response, context)

    async def on_response_tool_call(self, tool_call: ToolCall, request: RequestMessage) -> ToolCallDecision:
        return None if VERDICTS.get(tool_call.name, ALLOWED)[1] else tool_call
