"""A person at the viewer, in a real headless Chromium against the real proxy: signs in, filters to
the blocked transactions, opens the one whose tool call was blocked, sees the call struck through,
and watches a new transaction arrive without reloading. Screenshots land in artifacts/viewer/."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e.operators.browser import CHROMIUM_ARGS, chromium_executable
from tests.e2e.operators.conftest import ARTIFACTS, ViewerProxy

pytestmark = pytest.mark.e2e

SHOTS = ARTIFACTS / "viewer"


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=full_page)


def test_an_operator_finds_the_blocked_call_and_sees_new_transactions_arrive(
    viewer_proxy: ViewerProxy, tmp_path: Path
) -> None:
    executable = chromium_executable()
    ids = viewer_proxy.ids
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh profile
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 900},
        )
        try:
            page = context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))

            page.goto(f"{viewer_proxy.viewer}/")
            expect(page.locator("#key")).to_be_visible()
            expect(page.locator("#transactions")).to_have_count(0)  # no data before signing in
            shot(page, "01-sign-in.png")
            page.fill("#key", viewer_proxy.master_key)
            page.click("button[type=submit]")

            expect(page.locator(f'tr[data-id="{ids["unchanged"]}"]')).to_be_visible()
            expect(page.locator(f'tr[data-id="{ids["uppercased"]}"] .changed-mark')).to_have_text("Δ changed")
            shot(page, "02-transactions.png")

            page.select_option('select[name="status"]', "blocked")
            blocked = page.locator(f'tr[data-id="{ids["blocked_response"]}"]')
            expect(blocked).to_be_visible()
            expect(page.locator('#transactions tr[data-status="success"]')).to_have_count(0)
            shot(page, "03-filtered-to-blocked.png")

            blocked.click()
            struck = page.locator('#response .tool.removed[data-tool="bash"] .tool-name')
            expect(struck).to_be_visible()
            assert "line-through" in struck.evaluate("element => getComputedStyle(element).textDecorationLine")
            expect(page.locator('#response .tool.removed[data-tool="bash"] .badge')).to_have_text(
                re.compile("blocked", re.IGNORECASE)
            )
            expect(page.locator('#response .tool.ghost[data-tool="bash"]')).to_contain_text("not sent to the client")
            expect(page.locator(".callout.blocked")).to_contain_text("strict_tools")
            shot(page, "04-blocked-transaction.png", full_page=True)

            page.click(".crumb")
            expect(page.locator('select[name="status"]')).to_have_value("blocked")  # back to the filtered list
            page.click("a.clear")
            expect(page.locator(f'tr[data-id="{ids["unchanged"]}"]')).to_be_visible()
            page.evaluate("window.stillTheSamePage = true")
            answer = httpx.post(
                f"{viewer_proxy.base_url}/v1/chat/completions",
                headers=viewer_proxy.headers,
                json={"model": "gpt-4o-shouty", "messages": [{"role": "user", "content": "a live one, please"}]},
                timeout=30,
            )
            new_id = answer.headers["x-luthien-transaction-id"]
            arrived = page.locator(f'tr[data-id="{new_id}"]')
            expect(arrived).to_be_visible(timeout=20_000)
            expect(arrived).to_have_class(re.compile("row-new"))
            assert page.evaluate("window.stillTheSamePage") is True  # it came without a reload
            shot(page, "05-new-transaction-arrived.png")

            page.click('a[data-nav="summary"]')
            expect(page.locator(".kpis")).to_be_visible()
            expect(page.locator(".chart svg rect").first).to_be_visible()
            shot(page, "06-summary.png", full_page=True)

            page.goto(f"{viewer_proxy.viewer}/#/tx/{ids['judged']}")
            expect(page.locator("#verdicts")).to_contain_text("runs a destructive shell command")
            shot(page, "07-judge-verdicts.png", full_page=True)
            page.goto(f"{viewer_proxy.viewer}/#/tx/{ids['uppercased']}")
            expect(page.locator("#response .seg-ins").first).to_be_visible()
            shot(page, "08-changed-text.png", full_page=True)
            assert problems == []
        finally:
            context.close()
