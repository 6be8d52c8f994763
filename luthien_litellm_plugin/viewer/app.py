"""The viewer as an ASGI app of its own (mounted at `/luthien` in LiteLLM's app): routes, static
assets, and the security headers of every answer."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from luthien_litellm_plugin.viewer.api import Api, ViewerContext
from luthien_litellm_plugin.viewer.pages import Pages

STATIC_DIRECTORY = Path(__file__).parent / "static"
SECURITY_HEADERS = (
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
)


def build_viewer(context: ViewerContext) -> ASGIApp:
    api = Api(context)
    pages = Pages(context)
    routes = [
        Route("/", pages.index, methods=["GET"]),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/api/transactions", api.guarded(api.transactions), methods=["GET"]),
        Route("/api/transactions/{transaction_id}", api.guarded(api.transaction), methods=["GET"]),
        Route("/api/summary", api.guarded(api.summary), methods=["GET"]),
        Route("/api/facets", api.guarded(api.facets), methods=["GET"]),
        Route("/api/changes", api.guarded(api.changes), methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIRECTORY), name="static"),
    ]
    return SecurityHeaders(Starlette(routes=routes))


class SecurityHeaders:
    """Adds a strict CSP and no-store caching to every answer (static assets: revalidated)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(f"{scope.get('root_path', '')}/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers[name] = "no-cache" if static and name == "cache-control" else value
            await send(message)

        await self.app(scope, receive, send_with_headers)
