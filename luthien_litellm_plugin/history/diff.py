"""Original against final: what a policy changed in one transaction's request and response.

Texts are compared word by word; tool calls are matched by id (then by name and arguments), so a
call the policy removed shows as `removed`, with the reason when the recording has one: a judge
verdict, the refusal the client got, or the text the policy put in its place.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Literal

from luthien_litellm_plugin.history.records import JUDGE_VERDICT, ROUTE_REFUSED, TransactionRecord
from luthien_litellm_plugin.types import JSONObject, JSONValue

Op = Literal["equal", "delete", "insert"]
ToolCallState = Literal["kept", "changed", "removed", "added"]
MessageState = Literal["same", "changed", "added", "removed"]

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")
_REQUEST_PARTS = frozenset({"messages", "system", "tools", "input"})


@dataclass(frozen=True)
class Segment:
    """A run of text: in both (`equal`), only in the original (`delete`), only in the final (`insert`)."""

    op: Op
    text: str

    def to_json(self) -> JSONObject:
        return {"op": self.op, "text": self.text}


@dataclass(frozen=True)
class ToolCallChange:
    state: ToolCallState
    id: str | None
    name: str
    original_arguments: str | None
    final_arguments: str | None
    reason: str | None = None
    """Why it was removed or changed, when the recording says."""
    verdict: JSONObject | None = None
    """The judge verdict about this call (`policy.judge_verdict` payload), if any."""

    def to_json(self) -> JSONObject:
        return {
            "state": self.state,
            "id": self.id,
            "name": self.name,
            "original_arguments": self.original_arguments,
            "final_arguments": self.final_arguments,
            "reason": self.reason,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class ResponseDiff:
    recorded: bool
    """Whether the upstream's response was recorded at all."""
    delivered: bool
    """Whether the client received a response (False: an error instead, see the transaction's error)."""
    original_text: str | None
    final_text: str | None
    text: list[Segment]
    tool_calls: list[ToolCallChange]
    original_finish_reason: str | None
    final_finish_reason: str | None

    @property
    def changed(self) -> bool:
        return (
            any(segment.op != "equal" for segment in self.text)
            or any(call.state != "kept" for call in self.tool_calls)
            or self.original_finish_reason != self.final_finish_reason
            or (self.recorded and not self.delivered)
        )

    def to_json(self) -> JSONObject:
        return {
            "changed": self.changed,
            "recorded": self.recorded,
            "delivered": self.delivered,
            "original_text": self.original_text,
            "final_text": self.final_text,
            "text": [segment.to_json() for segment in self.text],
            "tool_calls": [call.to_json() for call in self.tool_calls],
            "original_finish_reason": self.original_finish_reason,
            "final_finish_reason": self.final_finish_reason,
        }


@dataclass(frozen=True)
class MessageChange:
    index: int
    role: str
    state: MessageState
    original: str | None
    final: str | None
    text: list[Segment]

    def to_json(self) -> JSONObject:
        return {
            "index": self.index,
            "role": self.role,
            "state": self.state,
            "original": self.original,
            "final": self.final,
            "text": [segment.to_json() for segment in self.text],
        }


@dataclass(frozen=True)
class SettingChange:
    """A top-level request field (model, temperature, tools, …) that differs."""

    key: str
    original: JSONValue
    final: JSONValue

    def to_json(self) -> JSONObject:
        return {"key": self.key, "original": self.original, "final": self.final}


@dataclass(frozen=True)
class RequestDiff:
    recorded: bool
    messages: list[MessageChange]
    settings: list[SettingChange]

    @property
    def changed(self) -> bool:
        return bool(self.settings) or any(message.state != "same" for message in self.messages)

    def to_json(self) -> JSONObject:
        return {
            "changed": self.changed,
            "recorded": self.recorded,
            "messages": [message.to_json() for message in self.messages],
            "settings": [setting.to_json() for setting in self.settings],
        }


@dataclass(frozen=True)
class TransactionDiff:
    request: RequestDiff
    response: ResponseDiff
    verdicts: list[JSONObject]
    refusals: list[JSONObject]

    def to_json(self) -> JSONObject:
        return {
            "request": self.request.to_json(),
            "response": self.response.to_json(),
            "judge_verdicts": list[JSONValue](self.verdicts),
            "route_refusals": list[JSONValue](self.refusals),
        }


def transaction_diff(record: TransactionRecord) -> TransactionDiff:
    verdicts = [event.payload for event in record.events_of(JUDGE_VERDICT)]
    refusals = [event.payload for event in record.events_of(ROUTE_REFUSED)]
    return TransactionDiff(
        request=request_diff(record.original_request, record.final_request),
        response=response_diff(record, verdicts),
        verdicts=verdicts,
        refusals=refusals,
    )


# -- text -------------------------------------------------------------------------------------


def text_diff(original: str, final: str) -> list[Segment]:
    """Word-level differences; adjacent runs of the same kind are merged."""
    if original == final:
        return [Segment("equal", original)] if original else []
    before, after = _TOKENS.findall(original), _TOKENS.findall(final)
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    runs = [
        (tag == "equal", "".join(before[i1:i2]), "".join(after[j1:j2])) for tag, i1, i2, j1, j2 in matcher.get_opcodes()
    ]
    # Whitespace alone between two changes joins them: "HELLO FROM" reads as one change, not two.
    for position in range(1, len(runs) - 1):
        same, text, _ = runs[position]
        if same and not text.strip() and not runs[position - 1][0] and not runs[position + 1][0]:
            runs[position] = (False, text, text)
    segments: list[Segment] = []
    for same, old, new in runs:
        if same:
            _append(segments, "equal", old)
        else:
            _append(segments, "delete", old)
            _append(segments, "insert", new)
    return segments


def _append(segments: list[Segment], op: Op, text: str) -> None:
    """Add a run, merging it into the last run of the same kind (also across the other side's run:
    delete, insert, delete → one delete, one insert)."""
    if not text:
        return
    for back in (1, 2):
        if len(segments) >= back and segments[-back].op == op and all(s.op != "equal" for s in segments[-back:]):
            segments[-back] = Segment(op, segments[-back].text + text)
            return
    segments.append(Segment(op, text))


# -- response ---------------------------------------------------------------------------------


def response_diff(record: TransactionRecord, verdicts: list[JSONObject]) -> ResponseDiff:
    original, final = _message(record.original_response), _message(record.final_response)
    original_text, final_text = _text(original.get("content")), _text(final.get("content"))
    delivered = record.final_response is not None and not (record.row.status == "blocked" and _empty(final))
    segments = text_diff(original_text or "", (final_text or "") if delivered else "")
    inserted = " ".join(segment.text for segment in segments if segment.op == "insert")
    calls = _tool_call_changes(
        _tool_calls(original), _tool_calls(final) if delivered else [], verdicts, inserted, record
    )
    return ResponseDiff(
        recorded=record.original_response is not None,
        delivered=delivered,
        original_text=original_text,
        final_text=final_text if delivered else None,
        text=segments,
        tool_calls=calls,
        original_finish_reason=_finish_reason(record.original_response),
        final_finish_reason=_finish_reason(record.final_response) if delivered else None,
    )


@dataclass(frozen=True)
class _Call:
    id: str | None
    name: str
    arguments: str


def _tool_call_changes(
    original: list[_Call], final: list[_Call], verdicts: list[JSONObject], inserted: str, record: TransactionRecord
) -> list[ToolCallChange]:
    remaining = list(final)
    unused_verdicts = list(verdicts)
    changes: list[ToolCallChange] = []
    for call in original:
        match = _take_match(call, remaining)
        verdict = _take_verdict(call.name, unused_verdicts)
        if match is None:
            removal = _removal_reason(call, verdict, inserted, record)
            changes.append(ToolCallChange("removed", call.id, call.name, call.arguments, None, removal, verdict))
        elif match.arguments != call.arguments or match.name != call.name:
            changes.append(
                ToolCallChange(
                    "changed", call.id, match.name, call.arguments, match.arguments, _verdict_reason(verdict), verdict
                )
            )
        else:
            changes.append(ToolCallChange("kept", call.id, call.name, call.arguments, match.arguments, None, verdict))
    changes += [ToolCallChange("added", call.id, call.name, None, call.arguments) for call in remaining]
    return changes


def _take_match(call: _Call, candidates: list[_Call]) -> _Call | None:
    for same in (
        lambda other: call.id is not None and other.id == call.id,
        lambda other: other.name == call.name and other.arguments == call.arguments,
    ):
        for position, other in enumerate(candidates):
            if same(other):
                return candidates.pop(position)
    return None


def _take_verdict(name: str, verdicts: list[JSONObject]) -> JSONObject | None:
    for position, verdict in enumerate(verdicts):
        if verdict.get("tool_name") == name:
            return verdicts.pop(position)
    return None


def _verdict_reason(verdict: JSONObject | None) -> str | None:
    if verdict is None:
        return None
    reason = verdict.get("reason") or verdict.get("explanation")
    return str(reason) if reason else None


def _removal_reason(call: _Call, verdict: JSONObject | None, inserted: str, record: TransactionRecord) -> str:
    from_verdict = _verdict_reason(verdict)
    if from_verdict:
        return from_verdict
    if record.row.status == "blocked" and record.error:
        return record.error
    for line in inserted.splitlines():
        if call.name in line:
            return line.strip().strip("[]")
    return f"removed by policy '{record.row.policy}'" if record.row.policy else "removed by the policy"


def _message(response: JSONObject | None) -> JSONObject:
    choices = (response or {}).get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict):
            return message
    return {}


def _finish_reason(response: JSONObject | None) -> str | None:
    choices = (response or {}).get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        reason = choices[0].get("finish_reason")
        return reason if isinstance(reason, str) else None
    return None


def _tool_calls(message: JSONObject) -> list[_Call]:
    calls = message.get("tool_calls")
    found: list[_Call] = []
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        call_id = call.get("id")
        found.append(
            _Call(
                id=call_id if isinstance(call_id, str) else None,
                name=str(function.get("name") or ""),
                arguments=str(function.get("arguments") or ""),
            )
        )
    return found


def _empty(message: JSONObject) -> bool:
    return not _text(message.get("content")) and not _tool_calls(message)


# -- request ----------------------------------------------------------------------------------


def request_diff(original: JSONObject | None, final: JSONObject | None) -> RequestDiff:
    before, after = original or {}, final if final is not None else (original or {})
    messages = _messages(before), _messages(after)
    changes: list[MessageChange] = []
    for index in range(max(len(messages[0]), len(messages[1]))):
        old = messages[0][index] if index < len(messages[0]) else None
        new = messages[1][index] if index < len(messages[1]) else None
        changes.append(_message_change(index, old, new))
    settings = [
        SettingChange(key, before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if key not in _REQUEST_PARTS and before.get(key) != after.get(key)
    ]
    if _tool_names(before) != _tool_names(after):
        settings.append(
            SettingChange("tools", list[JSONValue](_tool_names(before)), list[JSONValue](_tool_names(after)))
        )
    return RequestDiff(recorded=original is not None, messages=changes, settings=settings)


def _message_change(index: int, old: tuple[str, str] | None, new: tuple[str, str] | None) -> MessageChange:
    if old is None and new is not None:
        return MessageChange(index, new[0], "added", None, new[1], [Segment("insert", new[1])])
    if new is None and old is not None:
        return MessageChange(index, old[0], "removed", old[1], None, [Segment("delete", old[1])])
    assert old is not None and new is not None
    state: MessageState = "same" if old == new else "changed"
    return MessageChange(index, new[0], state, old[1], new[1], text_diff(old[1], new[1]))


def _messages(request: JSONObject) -> list[tuple[str, str]]:
    """(role, text) of every message: Anthropic's top-level `system` first, Responses' `input` too."""
    found: list[tuple[str, str]] = []
    system = request.get("system")
    if system:
        found.append(("system", _text(system) or ""))
    items = request.get("messages")
    if items is None:
        items = request.get("input")
    if isinstance(items, str):
        return [*found, ("user", items)]
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            role = item.get("role") or item.get("type") or "item"
            found.append((str(role), _message_text(item)))
    return found


def _message_text(message: JSONObject) -> str:
    lines = [_text(message.get("content")) or ""] if message.get("content") is not None else []
    for call in _tool_calls(message):
        lines.append(f"[tool call {call.name}({call.arguments})]")
    if "role" not in message:  # a Responses input item that is not a message
        lines.append(json.dumps(message, sort_keys=True))
    return "\n".join(line for line in lines if line)


def _text(content: JSONValue | None) -> str | None:
    """Text of a content value: a string, or a list of parts (text, tool use and results, images)."""
    if content is None:
        return None
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return json.dumps(content, sort_keys=True)
    parts: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            parts.append(str(part))
            continue
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text") or (kind is None and "text" in part):
            parts.append(str(part.get("text") or ""))
        elif kind == "tool_use":
            parts.append(f"[tool_use {part.get('name')} {json.dumps(part.get('input'), sort_keys=True)}]")
        elif kind == "tool_result":
            parts.append(f"[tool_result {part.get('tool_use_id')}] {_text(part.get('content')) or ''}".rstrip())
        else:
            parts.append(f"[{kind}]")
    return "\n".join(parts)


def _tool_names(request: JSONObject) -> list[str]:
    tools = request.get("tools")
    names: list[str] = []
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict):
            function = tool.get("function")
            name = function.get("name") if isinstance(function, dict) else tool.get("name")
            names.append(str(name))
    return names
