"""Who may open the viewer: the master key, or a session signed with it, from the same origin."""

from __future__ import annotations

import time

import pytest
from starlette.requests import HTTPConnection

from luthien_litellm_plugin.viewer.auth import SESSION_COOKIE, Caller, ViewerAuth, same_origin

KEY = "sk-test-master"


def connection(headers: dict[str, str] | None = None, cookies: dict[str, str] | None = None) -> HTTPConnection:
    raw = {"host": "proxy.example:4000", **(headers or {})}
    if cookies:
        raw["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": "/luthien/api/transactions",
        "root_path": "/luthien",
        "query_string": b"",
        "server": ("proxy.example", 4000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in raw.items()],
    }
    return HTTPConnection(scope)


def test_the_key_in_either_header_opens_it_and_nothing_else_does() -> None:
    auth = ViewerAuth(lambda: KEY)
    assert auth.caller(connection({"authorization": f"Bearer {KEY}"})) == Caller("key")
    assert auth.caller(connection({"x-api-key": KEY})) == Caller("key")
    assert auth.caller(connection({"authorization": "Bearer sk-wrong"})) is None
    assert auth.caller(connection()) is None
    assert ViewerAuth(lambda: None).caller(connection({"authorization": "Bearer "})) is None  # no key configured


def test_a_session_is_valid_until_it_expires_or_the_master_key_changes() -> None:
    auth = ViewerAuth(lambda: KEY)
    token = auth.new_session()
    caller = auth.caller(connection(cookies={SESSION_COOKIE: token}))
    assert caller is not None and caller.via == "session" and caller.csrf_token
    assert KEY not in token
    assert ViewerAuth(lambda: "sk-rotated").caller(connection(cookies={SESSION_COOKIE: token})) is None
    expires, nonce, signature = token.split(".")
    forged = f"{int(expires) + 3600}.{nonce}.{signature}"
    assert auth.caller(connection(cookies={SESSION_COOKIE: forged})) is None
    short = ViewerAuth(lambda: KEY, session_seconds=-1)
    assert short.caller(connection(cookies={SESSION_COOKIE: short.new_session()})) is None
    assert int(expires) > time.time()


@pytest.mark.parametrize(
    ("headers", "same"),
    [
        ({}, True),
        ({"sec-fetch-site": "same-origin"}, True),
        ({"sec-fetch-site": "none"}, True),
        ({"sec-fetch-site": "cross-site"}, False),
        ({"sec-fetch-site": "same-site"}, False),
        ({"origin": "http://proxy.example:4000"}, True),
        ({"origin": "https://evil.example"}, False),
        ({"origin": "null"}, False),
        ({"sec-fetch-site": "same-origin", "origin": "null"}, True),  # Referrer-Policy no-referrer sends null
    ],
)
def test_cookies_count_only_from_the_same_origin(headers: dict[str, str], same: bool) -> None:
    assert same_origin(connection(headers)) is same
    auth = ViewerAuth(lambda: KEY)
    caller = auth.caller(connection(headers, {SESSION_COOKIE: auth.new_session()}))
    assert (caller is not None) is same


def test_state_changes_need_the_sessions_csrf_token_but_not_from_key_callers() -> None:
    auth = ViewerAuth(lambda: KEY)
    caller = auth.caller(connection(cookies={SESSION_COOKIE: auth.new_session()}))
    assert caller is not None and caller.csrf_token is not None
    assert auth.csrf_ok(caller, caller.csrf_token)
    assert not auth.csrf_ok(caller, None)
    assert not auth.csrf_ok(caller, "x" * 32)
    assert auth.csrf_ok(Caller("key"), None)


def test_the_login_form_token_must_match_its_cookie() -> None:
    assert ViewerAuth.login_csrf_ok(connection(cookies={"luthien_login_csrf": "abc"}), "abc")
    assert not ViewerAuth.login_csrf_ok(connection(cookies={"luthien_login_csrf": "abc"}), "abd")
    assert not ViewerAuth.login_csrf_ok(connection(), "abc")
    assert not ViewerAuth.login_csrf_ok(
        connection({"sec-fetch-site": "cross-site"}, {"luthien_login_csrf": "abc"}), "abc"
    )
