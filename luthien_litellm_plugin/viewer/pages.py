"""The viewer's HTML: the app page (or the login form, with 401, for callers without a session),
signing in and out."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from luthien_litellm_plugin.viewer.api import ViewerContext, unauthorized
from luthien_litellm_plugin.viewer.auth import CSRF_HEADER, new_login_csrf_token
from luthien_litellm_plugin.viewer.templates import render

FAILED_LOGIN_DELAY_SECONDS = 0.5
"""A wrong key is answered this much later: guessing stays slow."""
MAX_FORM_BYTES = 8192


class Pages:
    def __init__(self, context: ViewerContext) -> None:
        self.context = context

    async def index(self, request: Request) -> Response:
        caller = self.context.auth.caller(request)
        if caller is None:
            return self._login_page(request, status_code=401)
        page = render("index.html", csrf=caller.csrf_token or "", live=self.context.feed.mode)
        return HTMLResponse(page)

    async def login_form(self, request: Request) -> Response:
        if self.context.auth.caller(request) is not None:
            return RedirectResponse("./", status_code=303)
        return self._login_page(request)

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        if not self.context.auth.login_csrf_ok(request, form.get("csrf")):
            return self._login_page(request, "The sign-in form expired or came from another site. Try again.", 403)
        if not self.context.auth.key_matches(form.get("key", "")):
            await asyncio.sleep(FAILED_LOGIN_DELAY_SECONDS)
            return self._login_page(request, "That is not this proxy's master key.", 401)
        response = RedirectResponse("./", status_code=303)
        self.context.auth.set_session_cookie(response, request, self.context.auth.new_session())
        self.context.auth.clear_login_csrf_cookie(response, request)
        return response

    async def logout(self, request: Request) -> Response:
        caller = self.context.auth.caller(request)
        if caller is None:
            return unauthorized()
        form = await _form(request)
        sent = request.headers.get(CSRF_HEADER) or form.get("csrf")
        if not self.context.auth.csrf_ok(caller, sent):
            return HTMLResponse("Refused: missing or wrong CSRF token.", status_code=403)
        response = RedirectResponse("login", status_code=303)
        self.context.auth.clear_session_cookie(response, request)
        return response

    def _login_page(self, request: Request, message: str = "", status_code: int = 200) -> Response:
        token = new_login_csrf_token()
        page = render("login.html", csrf=token, error=message, error_class="error" if message else "error hidden")
        response = HTMLResponse(page, status_code=status_code)
        self.context.auth.set_login_csrf_cookie(response, request, token)
        return response


async def _form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (first value of each field)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    return {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
