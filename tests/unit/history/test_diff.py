"""Original against final: text runs, tool calls kept, removed (with why), rewritten, added."""

from __future__ import annotations

from luthien_litellm_plugin.history.diff import Segment, request_diff, text_diff, transaction_diff
from luthien_litellm_plugin.history.records import EventRecord, TransactionRecord, TransactionRow
from luthien_litellm_plugin.types import JSONObject


def response(text: str | None, *calls: tuple[str, str, str], finish: str = "stop") -> JSONObject:
    message: JSONObject = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
        ]
    return {"choices": [{"index": 0, "message": message, "finish_reason": finish}]}


def record(
    original: JSONObject | None,
    final: JSONObject | None,
    *,
    status: str = "success",
    error: str | None = None,
    events: list[EventRecord] | None = None,
) -> TransactionRecord:
    row = TransactionRow.from_row({"transaction_id": "t", "status": status, "policy": "guard"})
    request: JSONObject = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return TransactionRecord(row, request, request, original, final, error, events or [])


WEATHER = ("call_1", "get_weather", '{"city": "Paris"}')
BASH = ("call_2", "bash", '{"command": "rm -rf /tmp/x"}')


def test_words_that_changed_are_one_run_each_side() -> None:
    assert text_diff("Hello from the fake upstream.", "HELLO FROM THE FAKE UPSTREAM.") == [
        Segment("delete", "Hello from the fake upstream"),
        Segment("insert", "HELLO FROM THE FAKE UPSTREAM"),
        Segment("equal", "."),
    ]
    assert text_diff("the fake one", "the real one") == [
        Segment("equal", "the "),
        Segment("delete", "fake"),
        Segment("insert", "real"),
        Segment("equal", " one"),
    ]
    assert text_diff("same", "same") == [Segment("equal", "same")]
    assert text_diff("", "") == []


def test_an_unchanged_response_has_only_kept_calls_and_equal_text() -> None:
    diff = transaction_diff(
        record(response("ok", WEATHER, finish="tool_calls"), response("ok", WEATHER, finish="tool_calls"))
    )
    assert not diff.response.changed and not diff.request.changed
    assert [call.state for call in diff.response.tool_calls] == ["kept"]


def test_a_removed_call_carries_the_text_the_policy_put_in_its_place() -> None:
    final = response("ok\n[no_shell: blocked a call to 'bash': tool 'bash' is not allowed]", WEATHER)
    diff = transaction_diff(record(response("ok", WEATHER, BASH, finish="tool_calls"), final))
    states = {call.name: call for call in diff.response.tool_calls}
    assert states["get_weather"].state == "kept"
    assert states["bash"].state == "removed"
    assert states["bash"].reason == "no_shell: blocked a call to 'bash': tool 'bash' is not allowed"
    assert diff.response.original_finish_reason == "tool_calls" and diff.response.final_finish_reason == "stop"
    assert diff.response.changed


def test_a_judge_verdict_explains_the_call_it_blocked() -> None:
    verdict: JSONObject = {"tool_name": "bash", "blocked": True, "reason": "destructive", "probability": 0.97}
    allowed: JSONObject = {"tool_name": "get_weather", "blocked": False, "reason": None, "explanation": "read-only"}
    events = [
        EventRecord("e1", 1, "policy.judge_verdict", 1.0, allowed),
        EventRecord("e2", 2, "policy.judge_verdict", 1.0, verdict),
    ]
    diff = transaction_diff(record(response("ok", WEATHER, BASH), response("ok", WEATHER), events=events))
    bash = next(call for call in diff.response.tool_calls if call.name == "bash")
    assert (bash.state, bash.reason, bash.verdict) == ("removed", "destructive", verdict)
    assert diff.verdicts == [allowed, verdict]


def test_a_response_refused_before_sending_is_not_delivered_and_every_call_is_struck() -> None:
    error = "Blocked by policy 'strict': tool 'bash' is not allowed"
    diff = transaction_diff(record(response("ok", WEATHER, BASH), None, status="blocked", error=error))
    assert not diff.response.delivered and diff.response.changed
    assert [(c.name, c.state, c.reason) for c in diff.response.tool_calls] == [
        ("get_weather", "removed", error),
        ("bash", "removed", error),
    ]
    assert diff.response.text == [Segment("delete", "ok")]


def test_rewritten_and_added_calls() -> None:
    rewritten = ("call_1", "get_weather", '{"city": "Lyon"}')
    added = ("call_9", "log", "{}")
    diff = transaction_diff(record(response(None, WEATHER), response(None, rewritten, added)))
    assert [(c.name, c.state) for c in diff.response.tool_calls] == [("get_weather", "changed"), ("log", "added")]
    assert diff.response.tool_calls[0].final_arguments == '{"city": "Lyon"}'


def test_request_messages_in_anthropic_shape_and_settings_that_changed() -> None:
    original: JSONObject = {
        "model": "claude",
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "secret is 42"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "name": "bash", "input": {"command": "ls"}}]},
        ],
        "tools": [{"name": "bash"}],
        "temperature": 1,
    }
    final: JSONObject = {
        **original,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "secret is [redacted]"}]},
            original["messages"][1],
        ],  # type: ignore[index]
        "tools": [],
        "temperature": 0,
    }
    diff = request_diff(original, final)
    assert [(m.role, m.state) for m in diff.messages] == [
        ("system", "same"),
        ("user", "changed"),
        ("assistant", "same"),
    ]
    assert diff.messages[1].text == [
        Segment("equal", "secret is "),
        Segment("delete", "42"),
        Segment("insert", "[redacted]"),
    ]
    assert diff.messages[2].original == '[tool_use bash {"command": "ls"}]'
    assert {(s.key, str(s.original), str(s.final)) for s in diff.settings} == {
        ("temperature", "1", "0"),
        ("tools", "['bash']", "[]"),
    }
    assert diff.changed
