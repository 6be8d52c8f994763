"""Who may open the viewer: callers with the proxy's master key, or a session it signed.

Sessions are stateless: the cookie holds an expiry and a nonce signed with a key derived from
the master key, so every worker and replica sharing the master key accepts it, and rotating the
master key ends every session. Cookies are `HttpOnly` and `SameSite=Strict`; requests that
authenticate with the cookie are also refused when the browser says they come from another
origin (`Sec-Fetch-Site`, `Origin`). State-changing requests need a CSRF token: the session's
own (derived from its nonce) or, for the login form, a double-submit cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import Response

SESSION_COOKIE = "luthien_session"
LOGIN_CSRF_COOKIE = "luthien_login_csrf"
CSRF_HEADER = "x-luthien-csrf"
SESSION_SECONDS = 12 * 3600
LOGIN_FORM_SECONDS = 3600
_SAME_ORIGIN_FETCH = frozenset({"same-origin", "none"})

MasterKey = Callable[[], "str | None"]


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: by key (a header) or by session (the cookie)."""

    via: Literal["key", "session"]
    csrf_token: str | None = None
    """The session's CSRF token (None for callers that sent the key)."""


class ViewerAuth:
    """Checks credentials against the master key the proxy holds now (`master_key()`)."""

    def __init__(self, master_key: MasterKey, *, session_seconds: int = SESSION_SECONDS) -> None:
        self._master_key = master_key
        self.session_seconds = session_seconds

    # -- who is calling -------------------------------------------------------------------

    def caller(self, connection: HTTPConnection) -> Caller | None:
        """The caller if it sent the master key or a valid session cookie from this origin."""
        key = self._master_key()
        if not key:
            return None
        sent = _sent_key(connection)
        if sent is not None:
            return Caller("key") if hmac.compare_digest(sent.encode(), key.encode()) else None
        token = connection.cookies.get(SESSION_COOKIE)
        if token is None or not same_origin(connection):
            return None
        nonce = self._verified_nonce(token, key)
        return None if nonce is None else Caller("session", self._csrf_token(nonce, key))

    def key_matches(self, candidate: str) -> bool:
        key = self._master_key()
        return bool(key) and hmac.compare_digest(candidate.encode(), (key or "").encode())

    # -- sessions ---------------------------------------------------------------------------

    def new_session(self) -> str:
        """A signed session token (the caller checked the key first)."""
        key = self._master_key() or ""
        body = f"{int(time.time()) + self.session_seconds}.{secrets.token_urlsafe(18)}"
        return f"{body}.{_sign(key, 'session', body)}"

    def _verified_nonce(self, token: str, key: str) -> str | None:
        expires, _, rest = token.partition(".")
        nonce, _, signature = rest.partition(".")
        if not (expires.isdigit() and nonce and signature) or int(expires) < time.time():
            return None
        expected = _sign(key, "session", f"{expires}.{nonce}")
        return nonce if hmac.compare_digest(signature.encode(), expected.encode()) else None

    @staticmethod
    def _csrf_token(nonce: str, key: str) -> str:
        return _sign(key, "csrf", nonce)[:32]

    # -- CSRF -------------------------------------------------------------------------------

    @staticmethod
    def csrf_ok(caller: Caller, sent: str | None) -> bool:
        """A state-changing request by this caller may proceed: key callers (no ambient
        credential to forge) always; session callers with their session's token."""
        if caller.via == "key":
            return True
        return caller.csrf_token is not None and sent is not None and hmac.compare_digest(sent, caller.csrf_token)

    @staticmethod
    def login_csrf_ok(connection: HTTPConnection, sent: str | None) -> bool:
        """The login form carries the token of the double-submit cookie set with the form."""
        expected = connection.cookies.get(LOGIN_CSRF_COOKIE)
        return (
            bool(expected)
            and sent is not None
            and hmac.compare_digest(sent, expected or "")
            and same_origin(connection)
        )

    # -- cookies ----------------------------------------------------------------------------

    def set_session_cookie(self, response: Response, connection: HTTPConnection, token: str) -> None:
        _set_cookie(response, connection, SESSION_COOKIE, token, self.session_seconds)

    @staticmethod
    def clear_session_cookie(response: Response, connection: HTTPConnection) -> None:
        _delete_cookie(response, connection, SESSION_COOKIE)

    @staticmethod
    def set_login_csrf_cookie(response: Response, connection: HTTPConnection, token: str) -> None:
        _set_cookie(response, connection, LOGIN_CSRF_COOKIE, token, LOGIN_FORM_SECONDS)

    @staticmethod
    def clear_login_csrf_cookie(response: Response, connection: HTTPConnection) -> None:
        response.delete_cookie(
            LOGIN_CSRF_COOKIE,
            path=cookie_path(connection),
            secure=is_https(connection),
            httponly=True,
            samesite="strict",
        )


def new_login_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def same_origin(connection: HTTPConnection) -> bool:
    """False when the request comes from another origin: browsers say so in `Sec-Fetch-Site`
    (which pages cannot forge); without it (older browsers, scripts), `Origin` must be absent or
    name this host."""
    fetch_site = connection.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in _SAME_ORIGIN_FETCH
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    hosts = {connection.headers.get("host"), connection.headers.get("x-forwarded-host")}
    return origin != "null" and urlsplit(origin).netloc in hosts


def cookie_path(connection: HTTPConnection) -> str:
    """The viewer's own path (`<root path>/luthien/`): the cookies go nowhere else."""
    root = str(connection.scope.get("root_path", "")).rstrip("/")
    return f"{root}/"


def is_https(connection: HTTPConnection) -> bool:
    forwarded = connection.headers.get("x-forwarded-proto", "")
    return connection.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


def _set_cookie(response: Response, connection: HTTPConnection, name: str, value: str, max_age: int) -> None:
    """A cookie for the viewer's path only: `HttpOnly`, `SameSite=Strict`, `Secure` over HTTPS."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=cookie_path(connection),
        secure=is_https(connection),
        httponly=True,
        samesite="strict",
    )


def _delete_cookie(response: Response, connection: HTTPConnection, name: str) -> None:
    secure = is_https(connection)
    response.delete_cookie(name, path=cookie_path(connection), secure=secure, httponly=True, samesite="strict")


def _sent_key(connection: HTTPConnection) -> str | None:
    authorization = connection.headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else authorization.strip()
    return connection.headers.get("x-api-key")


def _sign(key: str, purpose: str, message: str) -> str:
    derived = hashlib.sha256(f"luthien-viewer:{purpose}:".encode() + key.encode()).digest()
    return hmac.new(derived, message.encode(), hashlib.sha256).hexdigest()
