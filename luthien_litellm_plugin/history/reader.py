"""`TransactionHistory`: the queries the viewer and the CLI run over the recording database."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import AsyncIterator, Sequence

from luthien_litellm_plugin.history.database import RecordingDatabase
from luthien_litellm_plugin.history.dialect import Dialect, Statement, like_pattern
from luthien_litellm_plugin.history.records import (
    ERROR_STATUSES,
    Bucket,
    EventRecord,
    GroupStats,
    Page,
    Summary,
    TransactionFilter,
    TransactionRecord,
    TransactionRow,
    json_object,
)
from luthien_litellm_plugin.storage.rows import BODIES_BY_EVENT
from luthien_litellm_plugin.types import JSONObject

MAX_PAGE = 500
BODY_COLUMNS = ("original_request", "final_request", "original_response", "final_response")
_BUCKET_SECONDS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800)
_TARGET_BUCKETS = 48


class UnknownTransaction(LookupError):
    """No transaction has this id (or starts with this prefix), or several do."""


class TransactionHistory:
    """Reads transactions, their events and summaries. Every method is one or two queries."""

    def __init__(self, database: RecordingDatabase) -> None:
        self.database = database
        self.dialect: Dialect = database.dialect
        self._transactions = self.dialect.table("transactions")
        self._events = self.dialect.table("events")

    # -- lists -----------------------------------------------------------------------------

    async def page(self, where: TransactionFilter, *, limit: int = 50, before: str | None = None) -> Page:
        """Transactions matching `where`, newest first; `before` is a previous page's `next_before`."""
        limit = max(1, min(limit, MAX_PAGE))
        st = self.dialect.statement()
        clauses = [self._where(where, st)]
        if before:
            clauses.append(
                f"(started_at, transaction_id) < (SELECT started_at, transaction_id FROM {self._transactions} "
                f"WHERE transaction_id = {st.param(before)})"
            )
        sql = (
            f"SELECT {self._row_columns()} FROM {self._transactions} WHERE {' AND '.join(clauses)} "
            f"ORDER BY started_at DESC, transaction_id DESC LIMIT {st.param(limit + 1)}"
        )
        rows = [TransactionRow.from_row(row) for row in await self.database.fetch(sql, st.params)]
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, rows[-1].transaction_id if more and rows else None)

    async def finished_since(self, after: float, where: TransactionFilter, *, limit: int = 200) -> list[TransactionRow]:
        """Transactions that finished at or after `after`, oldest first (for following in a terminal)."""
        st = self.dialect.statement()
        sql = (
            f"SELECT {self._row_columns()} FROM {self._transactions} WHERE {self._where(where, st)} "
            f"AND status <> 'started' AND finished_at >= {st.time(after)} "
            f"ORDER BY finished_at, transaction_id LIMIT {st.param(limit)}"
        )
        return [TransactionRow.from_row(row) for row in await self.database.fetch(sql, st.params)]

    async def rows(self, transaction_ids: Sequence[str]) -> list[TransactionRow]:
        """The rows of these transactions that exist, in no particular order."""
        if not transaction_ids:
            return []
        st = self.dialect.statement()
        marks = ", ".join(st.param(transaction_id) for transaction_id in transaction_ids)
        sql = f"SELECT {self._row_columns()} FROM {self._transactions} WHERE transaction_id IN ({marks})"
        return [TransactionRow.from_row(row) for row in await self.database.fetch(sql, st.params)]

    async def statuses(self, transaction_ids: Sequence[str]) -> dict[str, str]:
        """The recorded status of each of these transactions that has a row."""
        if not transaction_ids:
            return {}
        st = self.dialect.statement()
        marks = ", ".join(st.param(transaction_id) for transaction_id in transaction_ids)
        sql = f"SELECT transaction_id, status FROM {self._transactions} WHERE transaction_id IN ({marks})"
        return {str(row["transaction_id"]): str(row["status"]) for row in await self.database.fetch(sql, st.params)}

    async def fingerprint(self, since: float) -> str:
        """Changes whenever a transaction started at or after `since` is added or finishes."""
        st = self.dialect.statement()
        sql = (
            f"SELECT count(*) AS n, {self.dialect.epoch('max(started_at)')} AS started, "
            f"{self.dialect.epoch('max(finished_at)')} AS finished, "
            f"sum(CASE WHEN status = 'started' THEN 1 ELSE 0 END) AS open "
            f"FROM {self._transactions} WHERE started_at >= {st.time(since)}"
        )
        [row] = await self.database.fetch(sql, st.params)
        return f"{row['n']}:{row['started']}:{row['finished']}:{row['open']}"

    async def facets(self, since: float) -> dict[str, list[str]]:
        """The models, policies and APIs seen in transactions started since `since`."""
        st = self.dialect.statement()
        sql = f"SELECT DISTINCT model, policy, api FROM {self._transactions} WHERE started_at >= {st.time(since)}"
        found: dict[str, set[str]] = {"models": set(), "policies": set(), "apis": set()}
        for row in await self.database.fetch(sql, st.params):
            for key, column in (("models", "model"), ("policies", "policy"), ("apis", "api")):
                if row[column] is not None:
                    found[key].add(str(row[column]))
        return {key: sorted(values) for key, values in found.items()}

    # -- one transaction --------------------------------------------------------------------

    async def get(self, transaction_id: str) -> TransactionRecord:
        """The whole transaction with its events. Raises `UnknownTransaction`."""
        st = self.dialect.statement()
        bodies = ", ".join(f"{self.dialect.json_text(c)} AS {c}" for c in BODY_COLUMNS)
        sql = (
            f"SELECT {self._row_columns()}, error AS error_full, {bodies} FROM {self._transactions} "
            f"WHERE transaction_id = {st.param(transaction_id)}"
        )
        rows = await self.database.fetch(sql, st.params)
        if not rows:
            raise UnknownTransaction(f"no transaction {transaction_id!r} in {self.database.description}")
        events = await self.events([transaction_id])
        return _record(rows[0], events.get(transaction_id, []))

    async def resolve(self, id_or_prefix: str) -> str:
        """The full id of the one transaction whose id is or starts with `id_or_prefix`."""
        text = id_or_prefix.strip()
        if not text:
            raise UnknownTransaction("no transaction id given")
        st = self.dialect.statement()
        sql = (
            f"SELECT transaction_id FROM {self._transactions} WHERE transaction_id = {st.param(text)} "
            f"OR transaction_id LIKE {st.param(like_pattern(text)[1:])} ESCAPE '!' LIMIT 3"
        )
        found = sorted(str(row["transaction_id"]) for row in await self.database.fetch(sql, st.params))
        if text in found:
            return text
        if not found:
            raise UnknownTransaction(f"no transaction {text!r} in {self.database.description}")
        if len(found) > 1:
            raise UnknownTransaction(f"{text!r} is the start of several transaction ids ({', '.join(found)}, …)")
        return found[0]

    async def events(self, transaction_ids: Sequence[str]) -> dict[str, list[EventRecord]]:
        """The events of these transactions, each list in recorded order."""
        if not transaction_ids:
            return {}
        st = self.dialect.statement()
        marks = ", ".join(st.param(transaction_id) for transaction_id in transaction_ids)
        sql = (
            f"SELECT event_id, transaction_id, sequence, event_type, {self.dialect.json_text('payload')} AS payload, "
            f"{self.dialect.epoch('created_at')} AS created_at FROM {self._events} "
            f"WHERE transaction_id IN ({marks}) ORDER BY transaction_id, sequence, created_at"
        )
        grouped: dict[str, list[EventRecord]] = {}
        for row in await self.database.fetch(sql, st.params):
            grouped.setdefault(str(row["transaction_id"]), []).append(EventRecord.from_row(row))
        return grouped

    async def export(self, where: TransactionFilter, *, page_size: int = 200) -> AsyncIterator[TransactionRecord]:
        """Every matching transaction with its events, oldest first, read a page at a time."""
        after: str | None = None
        bodies = ", ".join(f"{self.dialect.json_text(c)} AS {c}" for c in BODY_COLUMNS)
        while True:
            st = self.dialect.statement()
            clauses = [self._where(where, st)]
            if after is not None:
                clauses.append(
                    f"(started_at, transaction_id) > (SELECT started_at, transaction_id FROM {self._transactions} "
                    f"WHERE transaction_id = {st.param(after)})"
                )
            sql = (
                f"SELECT {self._row_columns()}, error AS error_full, {bodies} FROM {self._transactions} "
                f"WHERE {' AND '.join(clauses)} ORDER BY started_at, transaction_id LIMIT {st.param(page_size)}"
            )
            rows = await self.database.fetch(sql, st.params)
            if not rows:
                return
            ids = [str(row["transaction_id"]) for row in rows]
            events = await self.events(ids)
            for row, transaction_id in zip(rows, ids, strict=True):
                yield _record(row, events.get(transaction_id, []))
            if len(rows) < page_size:
                return
            after = ids[-1]

    # -- summaries --------------------------------------------------------------------------

    async def summary(self, since: float, until: float, where: TransactionFilter | None = None) -> Summary:
        """Per policy, per model and in total: transactions, blocked, changed, errors, p50/p95 duration;
        and the same counts in time buckets for a chart."""
        window = dataclasses.replace(where or TransactionFilter(), since=since, until=until)
        [totals] = await self._groups(window, None)
        bucket = _bucket_seconds(until - since)
        origin = math.floor(since / bucket) * bucket  # buckets on round times (whole minutes, hours, …)
        return Summary(
            since=since,
            until=until,
            bucket_seconds=bucket,
            timeline_start=origin,
            totals=totals,
            by_policy=await self._groups(window, "policy"),
            by_model=await self._groups(window, "model"),
            timeline=await self._timeline(window, origin, bucket),
        )

    async def _groups(self, where: TransactionFilter, column: str | None) -> list[GroupStats]:
        st = self.dialect.statement()
        sql = (
            f"SELECT {column or 'NULL'} AS key, {self._counts()} "
            f"FROM {self._transactions} WHERE {self._where(where, st)}"
            + (f" GROUP BY {column} ORDER BY count(*) DESC, {column}" if column else "")
        )
        counts = await self.database.fetch(sql, st.params)
        percentiles = await self._percentiles(where, column)
        return [
            GroupStats(
                key=None if row["key"] is None else str(row["key"]),
                transactions=_int(row["transactions"]),
                blocked=_int(row["blocked"]),
                changed=_int(row["changed"]),
                errors=_int(row["errors"]),
                p50_ms=percentiles.get(_key(row["key"]), (None, None))[0],
                p95_ms=percentiles.get(_key(row["key"]), (None, None))[1],
            )
            for row in counts
        ]

    async def _percentiles(
        self, where: TransactionFilter, column: str | None
    ) -> dict[str | None, tuple[float | None, float | None]]:
        """Nearest-rank p50 and p95 of `duration_ms` per group (window functions: both dialects)."""
        st = self.dialect.statement()
        partition = f"PARTITION BY {column} " if column else ""
        sql = (
            f"SELECT key, duration_ms, rn, n FROM (SELECT {column or 'NULL'} AS key, duration_ms, "
            f"row_number() OVER ({partition}ORDER BY duration_ms) AS rn, count(*) OVER ({partition.strip()}) AS n "
            f"FROM {self._transactions} WHERE {self._where(where, st)} AND duration_ms IS NOT NULL) ranked "
            f"WHERE rn = (n + 1) / 2 OR rn = (95 * n + 99) / 100"
        )
        found: dict[str | None, tuple[float | None, float | None]] = {}
        for row in await self.database.fetch(sql, st.params):
            key = _key(row["key"])
            p50, p95 = found.get(key, (None, None))
            n, rank, value = _int(row["n"]), _int(row["rn"]), float(str(row["duration_ms"]))
            if rank == (n + 1) // 2:
                p50 = value
            if rank == (95 * n + 99) // 100:
                p95 = value
            found[key] = (p50, p95)
        return found

    async def _timeline(self, where: TransactionFilter, since: float, bucket: int) -> list[Bucket]:
        d = self.dialect
        st = d.statement()
        offset = f"({d.epoch('started_at')} - {st.param(float(since))}) / {st.param(float(bucket))}"
        index = f"floor({offset})::int" if d.is_postgres else f"CAST({offset} AS INTEGER)"
        sql = (
            f"SELECT {index} AS bucket, {self._counts()} "
            f"FROM {self._transactions} WHERE {self._where(where, st)} GROUP BY 1 ORDER BY 1"
        )
        return [
            Bucket(
                start=since + _int(row["bucket"]) * bucket,
                transactions=_int(row["transactions"]),
                blocked=_int(row["blocked"]),
                changed=_int(row["changed"]),
                errors=_int(row["errors"]),
            )
            for row in await self.database.fetch(sql, st.params)
        ]

    # -- SQL pieces -------------------------------------------------------------------------

    def _counts(self) -> str:
        """A summary's counts as a select list; they do not overlap (see `GroupStats`)."""
        errors = ", ".join(f"'{status}'" for status in ERROR_STATUSES)
        return (
            "count(*) AS transactions, "
            "sum(CASE WHEN status = 'blocked' THEN 1 ELSE 0 END) AS blocked, "
            f"sum(CASE WHEN {self.dialect.changed()} AND status NOT IN ('blocked', {errors}) THEN 1 ELSE 0 END) "
            "AS changed, "
            f"sum(CASE WHEN status IN ({errors}) THEN 1 ELSE 0 END) AS errors"
        )

    def _row_columns(self) -> str:
        d = self.dialect
        return ", ".join(
            [
                "transaction_id",
                "call_id",
                "model",
                "policy",
                "api",
                "status",
                "is_streaming",
                f"{d.epoch('started_at')} AS started_at",
                f"{d.epoch('finished_at')} AS finished_at",
                "duration_ms",
                "time_to_first_byte_ms",
                f"{d.json_text('usage')} AS usage",
                "substr(error, 1, 500) AS error_head",
                f"{d.request_changed()} AS request_changed",
                f"{d.response_changed()} AS response_changed",
                f"{d.prompt_preview()} AS prompt_preview",
                f"{d.response_preview()} AS response_preview",
            ]
        )

    def _where(self, where: TransactionFilter, st: Statement) -> str:
        d = self.dialect
        clauses = ["started_at IS NOT NULL"]
        for column in ("model", "policy", "status", "api"):
            value = getattr(where, column)
            if value:
                clauses.append(f"{column} = {st.param(value)}")
        if where.since is not None:
            clauses.append(f"started_at >= {st.time(where.since)}")
        if where.until is not None:
            clauses.append(f"started_at < {st.time(where.until)}")
        if where.changed is not None:
            clauses.append(d.changed() if where.changed else f"NOT {d.changed()}")
        if where.text and where.text.strip():
            clauses.append(self._text_clause(where.text.strip(), st))
        return " AND ".join(clauses)

    def _text_clause(self, text: str, st: Statement) -> str:
        """Matches `text` inside the JSON bodies as stored (SQLite keeps JSON ASCII-escaped;
        Postgres prints jsonb with the characters themselves), in the error, or as an id."""
        d = self.dialect
        in_json = like_pattern(json.dumps(text, ensure_ascii=not d.is_postgres)[1:-1])
        parts = [f"{d.json_text(column)} {d.ilike} {st.param(in_json)} ESCAPE '!'" for column in BODY_COLUMNS]
        parts.append(f"error {d.ilike} {st.param(like_pattern(text))} ESCAPE '!'")
        parts.append(f"transaction_id = {st.param(text)}")
        parts.append(f"call_id = {st.param(text)}")
        return "(" + " OR ".join(parts) + ")"


def _record(row: dict[str, object], events: list[EventRecord]) -> TransactionRecord:
    full_error = row.get("error_full")
    bodies = {column: json_object(row.get(column)) for column in BODY_COLUMNS}
    return TransactionRecord(
        row=TransactionRow.from_row(row),
        original_request=bodies["original_request"],
        final_request=bodies["final_request"],
        original_response=bodies["original_response"],
        final_response=bodies["final_response"],
        error=None if full_error is None else str(full_error),
        events=[_with_bodies(event, bodies) for event in events],
    )


def _with_bodies(event: EventRecord, bodies: dict[str, JSONObject | None]) -> EventRecord:
    """The event as it was recorded: the bodies its row was stored without (`BODIES_BY_EVENT`) put
    back from the transaction's columns. Rows written with them keep their own."""
    missing = [key for key in BODIES_BY_EVENT.get(event.event_type, ()) if key not in event.payload]
    if not missing:
        return event
    return dataclasses.replace(event, payload={**event.payload, **{key: bodies[key] for key in missing}})


def _bucket_seconds(window: float) -> int:
    """The smallest round bucket giving at most `_TARGET_BUCKETS` buckets over `window`."""
    for seconds in _BUCKET_SECONDS:
        if window / seconds <= _TARGET_BUCKETS:
            return seconds
    return _BUCKET_SECONDS[-1]


def _key(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object) -> int:
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return value
    return int(float(str(value)))
