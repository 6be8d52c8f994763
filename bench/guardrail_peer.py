"""The peer arm: LiteLLM's own guardrail mechanism doing the same tool-name check as block_tools."""

from __future__ import annotations

from typing import Literal

from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.types.utils import GenericGuardrailAPIInputs

BLOCKED = frozenset({"bash", "shell"})


class ToolNameGuardrail(CustomGuardrail):
    """Refuses responses that call a blocked tool (LiteLLM's unified `apply_guardrail` hook)."""

    async def apply_guardrail(
        self,
        inputs: GenericGuardrailAPIInputs,
        request_data: dict,
        input_type: Literal["request", "response"],
        logging_obj: object | None = None,
    ) -> GenericGuardrailAPIInputs:
        for call in inputs.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else getattr(call, "function", None)
            name = function.get("name") if isinstance(function, dict) else getattr(function, "name", None)
            if name in BLOCKED:
                raise ValueError(f"tool '{name}' is not allowed")
        return inputs
