"""Guards for LiteLLM routes that reach a provider without calling any plugin hook.

The token-counting routes send the client's prompt to the provider's counting endpoint (with
the proxy's own credentials) and never call the pre-call hook. A guard route is put in front of
each of them on LiteLLM's own FastAPI app: it authenticates the caller the way LiteLLM does,
asks the plugin whether the route may serve this model, and then either answers with a
refusal in the route's error format or hands the request, body unchanged, to LiteLLM's route.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from fastapi import Depends, HTTPException, Request
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import Message, Receive, Scope, Send

from luthien_litellm_plugin.proxy.client_errors import POLICY_BLOCKED

ErrorFormat = Literal["openai", "anthropic", "gemini"]
COUNT_TOKENS_CALL_TYPE = "count_tokens"


@dataclass(frozen=True)
class GuardedRoute:
    path: str
    error_format: ErrorFormat


GUARDED_ROUTES = (
    GuardedRoute("/v1/messages/count_tokens", "anthropic"),
    GuardedRoute("/v1beta/models/{model_name:path}:countTokens", "gemini"),
    GuardedRoute("/models/{model_name:path}:countTokens", "gemini"),
    GuardedRoute("/v1/responses/input_tokens", "openai"),
    GuardedRoute("/responses/input_tokens", "openai"),
    GuardedRoute("/openai/v1/responses/input_tokens", "openai"),
    GuardedRoute("/utils/token_counter", "openai"),
)


class Gatekeeper(Protocol):
    async def admit_uncovered(self, data: dict, call_type: str) -> None:
        """Return if the route may serve the request (recording it when unpoliced); else raise
        the refusal as an `HTTPException` (recorded `blocked`)."""

    async def end_unpoliced(self, data: dict, failed: bool) -> None:
        """Record how an unpoliced request admitted by `admit_uncovered` ended."""


def install_route_guards(
    routes: list[BaseRoute], gatekeeper: Gatekeeper, authenticate: Callable[..., Awaitable[object]]
) -> None:
    """Put a guard in front of each token-counting route (first match wins in Starlette)."""
    guards: list[BaseRoute] = []
    guards += [_guard_route(guarded, routes, guards, gatekeeper, authenticate) for guarded in GUARDED_ROUTES]
    routes[:0] = guards


def _guard_route(
    guarded: GuardedRoute,
    routes: list[BaseRoute],
    guards: list[BaseRoute],
    gatekeeper: Gatekeeper,
    authenticate: Callable[..., Awaitable[object]],
) -> APIRoute:
    async def guard(request: Request, _: object = Depends(authenticate)) -> Response:
        raw = await request.body()
        body = _json_object(raw)
        model = request.path_params.get("model_name") or body.get("model")
        data: dict = {"model": model, "proxy_server_request": {"url": str(request.url), "body": body}}
        try:
            await gatekeeper.admit_uncovered(data, COUNT_TOKENS_CALL_TYPE)
        except HTTPException as refusal:
            return _refusal(guarded.error_format, refusal)
        target = next((r for r in routes if r not in guards and r.matches(request.scope)[0] is Match.FULL), None)
        return _Delegated(target, raw, gatekeeper, data)

    return APIRoute(guarded.path, guard, methods=["POST"], include_in_schema=False)


class _Delegated(Response):
    """Hands the request to the next route that matches it (LiteLLM's own), body replayed."""

    def __init__(self, target: BaseRoute | None, body: bytes, gatekeeper: Gatekeeper, data: dict) -> None:
        super().__init__()
        self._target = target
        self._body = body
        self._gatekeeper = gatekeeper
        self._data = data

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        failed = True
        try:
            if self._target is None:
                await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
                return
            await self._target.handle(scope, _replaying(self._body, receive), send)
            failed = False
        finally:
            await self._gatekeeper.end_unpoliced(self._data, failed)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _json_object(raw: bytes) -> dict:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _refusal(error_format: ErrorFormat, refusal: HTTPException) -> JSONResponse:
    detail = refusal.detail
    message = str(detail.get("error")) if isinstance(detail, dict) else str(detail)
    status = refusal.status_code
    if error_format == "anthropic":
        body: dict[str, object] = {"type": "error", "error": {"type": POLICY_BLOCKED, "message": message}}
    elif error_format == "gemini":
        body = {"error": {"code": status, "message": message, "status": "PERMISSION_DENIED"}}
    else:
        body = {"error": {"message": message, "type": POLICY_BLOCKED, "param": None, "code": str(status)}}
    return JSONResponse(body, status_code=status)
