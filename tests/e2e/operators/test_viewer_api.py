"""The viewer's JSON API and pages in the real proxy (SQLite default): who may see them, CSRF,
filters, and the diff of a changed, a blocked and an unchanged transaction."""

from __future__ import annotations

import re
import time

import httpx
import openai
import pytest

from tests.e2e.operators.conftest import ViewerProxy

pytestmark = pytest.mark.e2e

PROTECTED = ("", "api/transactions", "api/transactions/{id}", "api/summary", "api/facets", "api/changes")


def login(proxy: ViewerProxy) -> httpx.Client:
    """A browser-like client signed in through the login form."""
    client = httpx.Client(base_url=proxy.viewer, timeout=30)
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert form.status_code == 200 and token is not None
    signed_in = client.post("/login", data={"csrf": token.group(1), "key": proxy.master_key})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "./"
    return client


def test_without_the_key_or_a_valid_session_every_page_and_endpoint_is_401(viewer_proxy: ViewerProxy) -> None:
    blocked = viewer_proxy.ids["blocked_response"]
    session = login(viewer_proxy).cookies["luthien_session"]
    expires, nonce, signature = session.split(".")
    bad_cookies = [
        {"luthien_session": f"{expires}.{nonce}.{'0' * len(signature)}"},
        {"luthien_session": f"{int(expires) + 86400}.{nonce}.{signature}"},
        {"luthien_session": "garbage"},
    ]
    for path in PROTECTED:
        url = f"{viewer_proxy.viewer}/{path.format(id=blocked)}"
        attempts = [
            httpx.get(url),
            httpx.get(url, headers={"Authorization": "Bearer sk-not-the-key"}),
            httpx.get(url, headers={"x-api-key": viewer_proxy.master_key + "x"}),
            *(httpx.get(url, cookies=cookies) for cookies in bad_cookies),
            httpx.get(url, cookies={"luthien_session": session}, headers={"Sec-Fetch-Site": "cross-site"}),
            httpx.get(url, cookies={"luthien_session": session}, headers={"Origin": "https://evil.example"}),
        ]
        for response in attempts:
            assert response.status_code == 401, (path, response.status_code)
            assert blocked not in response.text and "strict_tools" not in response.text
    page = httpx.get(f"{viewer_proxy.viewer}/")
    assert 'action="login"' in page.text and 'type="password"' in page.text  # the login form, not the app


def test_the_key_in_a_header_or_the_login_session_opens_the_api(viewer_proxy: ViewerProxy) -> None:
    assert viewer_proxy.api("transactions").status_code == 200
    by_x_api_key = httpx.get(f"{viewer_proxy.viewer}/api/facets", headers={"x-api-key": viewer_proxy.master_key})
    assert by_x_api_key.status_code == 200 and "strict_tools" in by_x_api_key.json()["policies"]
    client = login(viewer_proxy)
    cookie = next(c for c in client.cookies.jar if c.name == "luthien_session")
    assert cookie.path == "/luthien/" and cookie.has_nonstandard_attr("HttpOnly")
    signed_in = client.post("/login", data={"csrf": "x", "key": "y"})  # a second sign-in attempt is refused
    assert signed_in.status_code == 403
    raw = httpx.Client(base_url=viewer_proxy.viewer)
    form = raw.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = raw.post("/login", data={"csrf": token.group(1), "key": viewer_proxy.master_key})
    set_cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie and "path=/luthien/" in set_cookie
    assert viewer_proxy.master_key not in answer.headers["set-cookie"]
    app = client.get("/")
    assert app.status_code == 200 and 'src="static/app.js"' in app.text
    assert client.get("/api/transactions").status_code == 200


def test_a_wrong_key_at_login_is_refused(viewer_proxy: ViewerProxy) -> None:
    client = httpx.Client(base_url=viewer_proxy.viewer, timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    wrong = client.post("/login", data={"csrf": token.group(1), "key": "sk-guess"})
    assert wrong.status_code == 401 and "That is not this proxy" in wrong.text
    assert "luthien_session" not in client.cookies


def test_state_changing_calls_without_the_csrf_token_are_refused(viewer_proxy: ViewerProxy) -> None:
    fresh = httpx.Client(base_url=viewer_proxy.viewer, timeout=30)
    fresh.get("/login")  # sets the form's double-submit cookie
    assert fresh.post("/login", data={"key": viewer_proxy.master_key}).status_code == 403
    assert fresh.post("/login", data={"csrf": "forged", "key": viewer_proxy.master_key}).status_code == 403
    no_cookie = httpx.post(f"{viewer_proxy.viewer}/login", data={"csrf": "x", "key": viewer_proxy.master_key})
    assert no_cookie.status_code == 403 and "luthien_session" not in no_cookie.headers.get("set-cookie", "")

    client = login(viewer_proxy)
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", data={"csrf": "0" * 32}).status_code == 403
    assert client.post("/logout", headers={"x-luthien-csrf": "0" * 32}).status_code == 403
    assert client.get("/api/facets").status_code == 200  # still signed in
    page = client.get("/")
    token = re.search(r'name="luthien-csrf" content="([^"]+)"', page.text)
    assert token is not None
    logged_out = client.post("/logout", data={"csrf": token.group(1)})
    assert logged_out.status_code == 303 and 'luthien_session=""' in logged_out.headers["set-cookie"]

    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("api/transactions", f"api/transactions/{viewer_proxy.ids['unchanged']}", "api/summary"):
            response = httpx.request(method, f"{viewer_proxy.viewer}/{path}", headers=viewer_proxy.headers)
            assert response.status_code == 405, (method, path)


def test_filters(viewer_proxy: ViewerProxy) -> None:
    ids = viewer_proxy.ids
    mine = set(ids.values())

    def found(**params: str) -> set[str]:
        response = viewer_proxy.api("transactions", since="1h", limit="500", **params)
        assert response.status_code == 200, response.text
        return {row["transaction_id"] for row in response.json()["transactions"]} & mine

    assert found() == mine
    assert found(status="blocked") == {ids["blocked_response"], ids["blocked_request"]}
    assert found(status="error") == {ids["upstream_error"]}
    assert found(policy="no_shell") == {ids["tool_removed"], ids["tool_removed_messages"]}
    assert found(model="gpt-4o-shouty") == {ids["uppercased"]}
    assert found(api="messages") == {ids["tool_removed_messages"], ids["blocked_request"]}
    assert found(changed="true") == {
        ids["uppercased"],
        ids["tool_removed"],
        ids["tool_removed_messages"],
        ids["blocked_response"],
        ids["judged"],
    }
    assert ids["unchanged"] in found(changed="false")
    assert found(q="rm -rf") >= {ids["tool_removed"], ids["blocked_response"], ids["judged"]}
    assert found(q="capital of FRANCE") == {ids["unchanged"]}
    assert found(q=ids["judged"]) == {ids["judged"]}
    future = viewer_proxy.api("transactions", since=str(time.time() + 3600)).json()["transactions"]
    assert future == []
    assert viewer_proxy.api("transactions", status="exploded").status_code == 400
    assert "since" in viewer_proxy.api("transactions", since="last tuesday").json()["error"]["message"]
    page = viewer_proxy.api("transactions", limit="2").json()
    rest = viewer_proxy.api("transactions", limit="500", before=page["next_before"]).json()["transactions"]
    assert page["transactions"][-1]["started_at"] >= rest[0]["started_at"]


def test_the_diff_of_a_changed_a_blocked_and_an_unchanged_transaction(viewer_proxy: ViewerProxy) -> None:
    changed = viewer_proxy.api(f"transactions/{viewer_proxy.ids['tool_removed']}").json()
    assert changed["transaction"]["changed"] and changed["transaction"]["status"] == "success"
    calls = {c["name"]: c for c in changed["diff"]["response"]["tool_calls"]}
    assert calls["bash"]["state"] == "removed" and "bash" in calls["bash"]["reason"]
    assert calls["get_weather"]["state"] == calls["get_time"]["state"] == "kept"
    assert any(
        s["op"] == "insert" and "blocked a call to 'bash'" in s["text"] for s in changed["diff"]["response"]["text"]
    )
    assert [e["event_type"] for e in changed["timeline"]][-1] == "transaction.completed"
    assert all("original_request" not in e["payload"] for e in changed["timeline"])

    blocked = viewer_proxy.api(f"transactions/{viewer_proxy.ids['blocked_response']}").json()
    assert blocked["transaction"]["status"] == "blocked"
    assert "Blocked by policy 'strict_tools'" in blocked["transaction"]["error"]
    bash = next(c for c in blocked["diff"]["response"]["tool_calls"] if c["name"] == "bash")
    assert bash["state"] == "removed" and "strict_tools" in bash["reason"]

    refused = viewer_proxy.api(f"transactions/{viewer_proxy.ids['blocked_request']}").json()
    assert refused["transaction"]["status"] == "blocked" and not refused["diff"]["response"]["recorded"]
    assert refused["transaction"]["api"] == "messages"

    same = viewer_proxy.api(f"transactions/{viewer_proxy.ids['unchanged']}").json()
    assert not same["transaction"]["changed"] and not same["diff"]["response"]["changed"]
    assert {s["op"] for s in same["diff"]["response"]["text"]} == {"equal"}
    assert not same["diff"]["request"]["changed"]

    judged = viewer_proxy.api(f"transactions/{viewer_proxy.ids['judged']}").json()
    verdicts = {v["tool_name"]: v for v in judged["diff"]["judge_verdicts"]}
    assert verdicts["bash"]["blocked"] and verdicts["bash"]["probability"] == 0.97
    bash = next(c for c in judged["diff"]["response"]["tool_calls"] if c["name"] == "bash")
    assert bash["state"] == "removed" and bash["reason"] == "runs a destructive shell command (rm -rf)"

    missing = viewer_proxy.api("transactions/not-a-transaction")
    assert missing.status_code == 404 and "no transaction" in missing.json()["error"]["message"]


def test_summary_per_policy_and_model(viewer_proxy: ViewerProxy) -> None:
    summary = viewer_proxy.api("summary", since="1h").json()
    assert summary["totals"]["transactions"] >= 9
    by_policy = {group["key"]: group for group in summary["by_policy"]}
    assert by_policy["strict_tools"]["blocked"] >= 1 and by_policy["all_caps"]["changed"] >= 1
    assert by_policy["passthrough"]["errors"] >= 1 and by_policy["passthrough"]["p95_ms"] is not None
    assert {group["key"] for group in summary["by_model"]} >= {"gpt-4o", "claude-sonnet", "claude-guarded"}
    assert sum(bucket["transactions"] for bucket in summary["timeline"]) == summary["totals"]["transactions"]


def test_a_new_transaction_is_announced_by_the_redis_feed(viewer_proxy: ViewerProxy) -> None:
    start = viewer_proxy.api("changes").json()
    assert start["mode"] == "redis" and start["changed"] is False
    client = openai.OpenAI(base_url=f"{viewer_proxy.base_url}/v1", api_key=viewer_proxy.master_key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "live one"}]
    )
    new_id = raw.headers["x-luthien-transaction-id"]
    viewer_proxy.wait_for_announcement(start["cursor"], new_id)
    top = viewer_proxy.api("transactions", limit="5").json()["transactions"]
    assert new_id in [row["transaction_id"] for row in top]


def test_no_secret_reaches_a_page_or_an_answer(viewer_proxy: ViewerProxy) -> None:
    client = login(viewer_proxy)
    bodies = [client.get("/").text, client.get("/static/app.js").text]
    bodies += [client.get(f"/api/transactions/{tid}").text for tid in viewer_proxy.ids.values()]
    bodies += [client.get("/api/transactions", params={"limit": "500"}).text, client.get("/api/facets").text]
    for body in bodies:
        assert viewer_proxy.master_key not in body
        assert "sk-up" not in body  # the upstream's api_key
    headers = client.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"] and headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"


def test_litellm_loading_its_lazy_routes_does_not_displace_the_viewer(viewer_proxy: ViewerProxy) -> None:
    # The first request under /guardrails imports a LiteLLM feature and re-sorts the route table.
    lazily = httpx.get(f"{viewer_proxy.base_url}/guardrails/list", headers=viewer_proxy.headers, timeout=60)
    assert lazily.status_code < 500, lazily.text
    assert viewer_proxy.api("facets").status_code == 200
    assert httpx.get(f"{viewer_proxy.viewer}/api/facets").status_code == 401
    assert httpx.get(f"{viewer_proxy.base_url}/luthien", follow_redirects=True).status_code == 401  # → /luthien/
