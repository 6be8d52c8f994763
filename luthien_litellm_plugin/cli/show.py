"""`luthien show` and `luthien stats`: one transaction's diff and timeline, and a window's summary."""

from __future__ import annotations

import json

from luthien_litellm_plugin.cli.terminal import Terminal, clip, ms, share
from luthien_litellm_plugin.history.diff import RequestDiff, ResponseDiff, TransactionDiff, transaction_diff
from luthien_litellm_plugin.history.records import GroupStats, Summary, TransactionRecord
from luthien_litellm_plugin.history.timeline import timeline
from luthien_litellm_plugin.history.timespec import iso


def show_transaction(terminal: Terminal, record: TransactionRecord) -> None:
    row = record.row
    diff = transaction_diff(record)
    t = terminal
    t.line(t.style(f"Transaction {row.transaction_id}", "bold"))
    streaming = " (streaming)" if row.is_streaming else ""
    t.line(
        f"  status      {t.status(row.status)}"
        + ("   " + t.style("Δ changed by the policy", "magenta") if row.changed else "")
    )
    t.line(f"  model       {row.model or '—'}    policy {row.policy or '—'}    api {row.api or '—'}{streaming}")
    timing = f"duration {ms(row.duration_ms)}    first byte {ms(row.time_to_first_byte_ms)}"
    t.line(f"  started     {_when(row.started_at)}    {timing}")
    usage = row.usage or {}
    if usage:
        t.line(f"  tokens      {usage.get('prompt_tokens', '?')} in / {usage.get('completion_tokens', '?')} out")
    if row.call_id:
        t.line(f"  call id     {row.call_id}")
    if record.error:
        t.line(f"  error       {t.style(record.error, 'red' if row.status == 'blocked' else 'yellow')}")
    _response(t, diff.response, row.status)
    _request(t, diff.request)
    _verdicts(t, diff)
    t.line()
    t.line(t.style("Timeline", "bold"))
    for entry in timeline(record):
        t.line(f"  {('+' + ms(max(0.0, entry.at_ms))).rjust(10)}  {entry.event_type.ljust(42)} {entry.description}")


def _response(t: Terminal, response: ResponseDiff, status: str) -> None:
    t.line()
    title = "Response (original from the upstream → final to the client)"
    t.line(t.style(title, "bold") + ("" if response.changed else "  " + t.style("unchanged", "green")))
    if not response.recorded:
        refused = "refused before the upstream was called" if status == "blocked" else "none recorded"
        t.line(f"  {refused}")
        return
    if not response.delivered:
        t.line("  " + t.style("not delivered: the client received the error above", "red"))
    if response.text:
        for number, text in enumerate(t.segments(response.text).splitlines() or [""]):
            t.line(("  text        " if number == 0 else "              ") + text)
    for call in response.tool_calls:
        label = {"kept": "kept", "changed": "REWRITTEN", "removed": "REMOVED", "added": "ADDED"}[call.state]
        color = {"kept": "gray", "changed": "magenta", "removed": "red", "added": "green"}[call.state]
        head = f"  tool call   {t.style(label.ljust(9), color, 'bold')} "
        if call.state == "removed":
            body = t.style(f"{call.name} {call.original_arguments}", "red", "strike")
            t.line(head + body + (f"  ← {call.reason}" if call.reason else ""))
        elif call.state == "changed":
            t.line(head + f"{call.name} {call.original_arguments} → {call.final_arguments}")
        else:
            arguments = call.final_arguments if call.state == "added" else call.original_arguments
            t.line(head + f"{call.name} {arguments}")
    if response.original_finish_reason != response.final_finish_reason and response.delivered:
        t.line(f"  finish      {response.original_finish_reason or 'none'} → {response.final_finish_reason or 'none'}")
    else:
        t.line(f"  finish      {response.original_finish_reason or 'none'}")


def _request(t: Terminal, request: RequestDiff) -> None:
    t.line()
    count = len(request.messages)
    if not request.changed:
        t.line(t.style("Request", "bold") + f"  unchanged ({count} message{'s' if count != 1 else ''})")
        if request.messages:
            last = request.messages[-1]
            t.line(f"  last message ({last.role}): {clip(last.final or last.original, 100)}")
        return
    t.line(t.style("Request (original from the client → final to the upstream)", "bold"))
    for message in request.messages:
        if message.state == "same":
            continue
        t.line(f"  [{message.index}] {message.role} {message.state}: {t.segments(message.text)}")
    for setting in request.settings:
        t.line(f"  {setting.key}: {json.dumps(setting.original)} → {json.dumps(setting.final)}")


def _verdicts(t: Terminal, diff: TransactionDiff) -> None:
    if not diff.verdicts:
        return
    t.line()
    t.line(t.style("Judge verdicts", "bold"))
    for verdict in diff.verdicts:
        blocked = verdict.get("blocked")
        outcome = t.style("blocked", "red", "bold") if blocked else t.style("allowed", "green")
        probability = verdict.get("probability")
        p = f"p={probability:.2f}" if isinstance(probability, int | float) else "p=?"
        latency = verdict.get("latency_ms")
        timing = ms(float(latency)) if isinstance(latency, int | float) else "—"
        why = verdict.get("reason") or verdict.get("explanation") or ""
        judge = f"{verdict.get('judge_model') or ''} {timing}"
        t.line(f"  {str(verdict.get('tool_name')).ljust(16)} {outcome}  {p}  {judge}  {why}")


def show_summary(terminal: Terminal, summary: Summary, source: str) -> None:
    t = terminal
    window = f"{_when(summary.since)} → {_when(summary.until)}"
    t.line(t.style("Summary", "bold") + f"  {window}  ({source})")
    header = f"  {'':<28}{'transactions':>13}{'blocked':>12}{'changed':>12}{'errors':>12}{'p50':>10}{'p95':>10}"
    t.line(t.style(header, "gray"))
    _group(t, "all", summary.totals, indent=2, bold=True)
    for title, groups in (("per policy", summary.by_policy), ("per model", summary.by_model)):
        t.line(t.style(f"  {title}", "bold"))
        for group in groups:
            _group(t, group.key or "(none)", group)
        if not groups:
            t.line("    (no transactions)")


def _group(t: Terminal, name: str, g: GroupStats, *, indent: int = 4, bold: bool = False) -> None:
    width = 30 - indent
    label = clip(name, width - 1).ljust(width)
    cells = (
        f"{g.transactions:>13}{share(g.blocked, g.transactions):>12}{share(g.changed, g.transactions):>12}"
        f"{share(g.errors, g.transactions):>12}{ms(g.p50_ms):>10}{ms(g.p95_ms):>10}"
    )
    t.line(" " * indent + (t.style(label, "bold") if bold else label) + cells)


def _when(epoch: float | None) -> str:
    return (iso(epoch) or "—")[:19].replace("T", " ") + (" UTC" if epoch else "")
