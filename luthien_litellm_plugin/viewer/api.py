"""The viewer's JSON API: transactions, one transaction (with its diff and timeline), summary,
filter values, and changes for live updates. Every endpoint needs the master key or a session."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from luthien_litellm_plugin.history.database import DatabaseUnavailable
from luthien_litellm_plugin.history.diff import transaction_diff
from luthien_litellm_plugin.history.reader import MAX_PAGE, TransactionHistory, UnknownTransaction
from luthien_litellm_plugin.history.records import APIS, STATUSES, TransactionFilter
from luthien_litellm_plugin.history.timeline import timeline
from luthien_litellm_plugin.history.timespec import TimeSpecError, iso, parse_time
from luthien_litellm_plugin.types import JSONObject
from luthien_litellm_plugin.viewer.auth import ViewerAuth
from luthien_litellm_plugin.viewer.live import ChangeFeed

Endpoint = Callable[[Request], Awaitable[Response]]
FACET_WINDOW_SECONDS = 7 * 24 * 3600
DEFAULT_SUMMARY_WINDOW = "1h"


class BadRequest(ValueError):
    """A query parameter the API cannot use; the message names it."""


@dataclass(frozen=True)
class ViewerContext:
    history: TransactionHistory
    feed: ChangeFeed
    auth: ViewerAuth
    model_policies: dict[str, str]
    """Model group → policy, as configured."""
    default_policy: str


def error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def unauthorized() -> JSONResponse:
    return error(
        401, "unauthorized", "send the proxy's master key (Authorization: Bearer / x-api-key) or sign in at login"
    )


class Api:
    def __init__(self, context: ViewerContext) -> None:
        self.context = context

    def guarded(self, endpoint: Endpoint) -> Endpoint:
        """`endpoint` for authenticated callers only; bad parameters → 400, database down → 503."""

        async def guarded_endpoint(request: Request) -> Response:
            if self.context.auth.caller(request) is None:
                return unauthorized()
            try:
                return await endpoint(request)
            except BadRequest as problem:
                return error(400, "bad_request", str(problem))
            except DatabaseUnavailable as problem:
                return error(503, "database_unavailable", str(problem))

        return guarded_endpoint

    async def transactions(self, request: Request) -> Response:
        params = request.query_params
        where = transaction_filter(params, time.time())
        limit = _int_param(params.get("limit"), "limit", default=50, low=1, high=MAX_PAGE)
        page = await self.context.history.page(where, limit=limit, before=params.get("before") or None)
        return JSONResponse(
            {
                "transactions": [row.to_json() for row in page.rows],
                "next_before": page.next_before,
                "live": self.context.feed.mode,
            }
        )

    async def transaction(self, request: Request) -> Response:
        transaction_id = request.path_params["transaction_id"]
        try:
            record = await self.context.history.get(transaction_id)
        except UnknownTransaction as problem:
            return error(404, "not_found", str(problem))
        transaction = record.row.to_json()
        transaction["error"] = record.error
        body: JSONObject = {
            "transaction": transaction,
            "request": {"original": record.original_request, "final": record.final_request},
            "response": {"original": record.original_response, "final": record.final_response},
            "diff": transaction_diff(record).to_json(),
            "timeline": [entry.to_json() for entry in timeline(record)],
        }
        return JSONResponse(body)

    async def summary(self, request: Request) -> Response:
        params = request.query_params
        now = time.time()
        since = _time_param(params.get("since") or DEFAULT_SUMMARY_WINDOW, "since", now)
        until = _time_param(params.get("until"), "until", now) if params.get("until") else now
        if until <= since:
            raise BadRequest("until must be after since")
        where = transaction_filter(params, now, with_window=False)
        return JSONResponse((await self.context.history.summary(since, until, where)).to_json())

    async def facets(self, request: Request) -> Response:
        found = await self.context.history.facets(time.time() - FACET_WINDOW_SECONDS)
        configured = self.context.model_policies
        policies = {*found["policies"], *configured.values(), self.context.default_policy}
        return JSONResponse(
            {
                "models": sorted({*found["models"], *configured}),
                "policies": sorted(policies),
                "apis": sorted({*found["apis"], *APIS}),
                "statuses": list(STATUSES),
                "model_policies": dict(configured),
                "default_policy": self.context.default_policy,
                "live": self.context.feed.mode,
                "now": iso(time.time()),
            }
        )

    async def changes(self, request: Request) -> Response:
        changes = await self.context.feed.changes(request.query_params.get("cursor") or None)
        return JSONResponse(changes.to_json())


def transaction_filter(params: Mapping[str, str], now: float, *, with_window: bool = True) -> TransactionFilter:
    """The filter the query parameters describe (`model`, `policy`, `status`, `api`, `since`,
    `until`, `q`, `changed`)."""
    get = params.get
    status = get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    changed = get("changed") or None
    if changed not in (None, "true", "false"):
        raise BadRequest(f"changed must be true or false, got {changed!r}")
    return TransactionFilter(
        model=get("model") or None,
        policy=get("policy") or None,
        status=status,
        api=get("api") or None,
        since=_time_param(get("since"), "since", now) if with_window and get("since") else None,
        until=_time_param(get("until"), "until", now) if with_window and get("until") else None,
        text=get("q") or None,
        changed=None if changed is None else changed == "true",
    )


def _time_param(value: str | None, name: str, now: float) -> float:
    try:
        return parse_time(value or "", now)
    except TimeSpecError as problem:
        raise BadRequest(f"{name}: {problem}") from problem


def _int_param(value: str | None, name: str, *, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return int(value)
