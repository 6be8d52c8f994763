"""The README's own judge example (*Writing a policy*), run as written, on both paths."""

from __future__ import annotations

import re
from pathlib import Path

from litellm.types.utils import ModelResponse

from luthien_litellm_plugin.events import InMemoryEventSink
from luthien_litellm_plugin.orchestration.factory import create_default_orchestrator
from luthien_litellm_plugin.policies import Policy
from tests.streams import SPAN, chunk, iterate, request, served_text, served_tool_calls
from tests.unit.policies.judge_fakes import ScriptedJudge

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_policy() -> type[Policy]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    [source] = [block for block in blocks if "class NoDeletes(Policy)" in block]
    namespace: dict[str, object] = {}
    exec(compile(source, str(README), "exec"), namespace)  # the example exactly as documented
    found = namespace["NoDeletes"]
    assert isinstance(found, type) and issubclass(found, Policy)
    return found


def deletes(prompt: str) -> str:
    return '{"deletes": true}' if "rm " in prompt else '{"deletes": false}'


CALLS = [
    chunk("On it.", role="assistant"),
    chunk(tool_call=(0, "call_l", "bash", '{"command": "ls"}')),
    chunk(tool_call=(1, "call_r", "bash", '{"command": "rm notes.txt"}')),
    chunk(finish_reason="tool_calls"),
]


async def test_the_readme_judge_works_as_documented_on_streams() -> None:
    sink = InMemoryEventSink()
    judge = ScriptedJudge(deletes)
    orchestrator = create_default_orchestrator(readme_policy()(), judge, db_pool=sink)
    final = await orchestrator.process_request(request(), "txn", SPAN)
    items = [item async for item in orchestrator.stream_response(iterate(CALLS), "txn", SPAN, final)]
    assert [call["arguments"] for call in served_tool_calls(items)] == ['{"command": "ls"}']
    assert served_text(items) == "On it.[bash refused: it deletes]"
    assert judge.models == ["judge", "judge"]
    assert len(sink.of_type("my_policy.verdict")) == 2


async def test_the_readme_judge_works_as_documented_on_complete_responses_and_fails_closed() -> None:
    def broken(prompt: str) -> str:
        raise ConnectionError("down")

    calls = [{"id": "c", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}]
    message = {"role": "assistant", "content": "On it.", "tool_calls": calls}
    response = ModelResponse(choices=[{"index": 0, "message": message, "finish_reason": "tool_calls"}])
    orchestrator = create_default_orchestrator(readme_policy()(), ScriptedJudge(broken))
    final = await orchestrator.process_request(request(stream=False), "txn", SPAN)
    result = await orchestrator.apply_full_response(response, "txn", SPAN, final)
    assert result.choices[0].message.content == "On it.[bash refused: it deletes]"  # type: ignore[union-attr]
