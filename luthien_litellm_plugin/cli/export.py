"""`luthien export`: transactions with their events, one JSON object per line."""

from __future__ import annotations

import json
from typing import TextIO

from luthien_litellm_plugin.history.reader import TransactionHistory
from luthien_litellm_plugin.history.records import TransactionFilter


async def export_jsonl(history: TransactionHistory, where: TransactionFilter, out: TextIO) -> tuple[int, int]:
    """Write `{"transaction": {...}, "events": [...]}` lines, oldest first; returns (transactions, events)."""
    transactions = events = 0
    async for record in history.export(where):
        out.write(json.dumps(record.to_json(), separators=(",", ":"), ensure_ascii=False) + "\n")
        transactions += 1
        events += len(record.events)
    out.flush()
    return transactions, events
