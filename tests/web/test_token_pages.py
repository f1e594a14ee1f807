"""A page opened with an expired or revoked token says so, in the page's language (issue #10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from live import LiveServer
from playwright.async_api import expect
from seed import SECRET

from domain import tokens

PHONE = {"width": 390, "height": 844}
SAYS = {
    "zh-CN": {"expired": "链接已过期", "revoked": "链接已被撤销"},
    "en": {"expired": "This link has expired", "revoked": "This link has been withdrawn"},
}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_a_page_opened_with_an_expired_or_revoked_token_says_so_in_its_language(
    browser: Any, live: LiveServer, lang: str
) -> None:
    query = "?lang=en&token=" if lang == "en" else "?token="
    context = await browser.new_context(viewport=PHONE, locale=lang)
    page = await context.new_page()
    now = datetime.now(UTC)
    expired = tokens.mint(
        SECRET, "leader", "lead-a", now=now - timedelta(days=31), expires=now - timedelta(hours=1)
    )
    response = await page.goto(f"{live.url}/leader/lead-a{query}{expired}")
    assert response is not None and response.status == 403
    assert await page.locator("h1").inner_text() == SAYS[lang]["expired"]
    assert "王团长" not in await page.locator("body").inner_text()

    # A good token opens the page (then lives in its cookie). Revoked while the page is open: its socket is closed
    # with 4401 and the page reloads itself into the message, as it does when opened again.
    response = await page.goto(f"{live.url}/leader/lead-a{query}{live.token('leader', 'lead-a')}")
    assert response is not None and response.status == 200
    await expect(page.locator("body")).to_have_attribute("data-conn", "live", timeout=10_000)
    revoked = await live.http.post(
        "/api/v1/admin/tokens/revoke", json={"role": "leader", "subject": "lead-a"}
    )
    assert revoked.status_code == 200
    await expect(page.locator("h1")).to_have_text(SAYS[lang]["revoked"], timeout=10_000)
    response = await page.reload()
    assert response is not None and response.status == 403
    assert await page.locator("h1").inner_text() == SAYS[lang]["revoked"]
    await context.close()
