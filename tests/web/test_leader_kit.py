"""The share kit on the leader's phone (直播作战包, issue 12): folded under the board, it opens to the poster and the
words to post, which carry the leader's share link; one tap copies the words, one link saves the poster."""

from __future__ import annotations

import asyncio
from typing import Any

from browser import PHONE, open_screen, screenshot
from live import LiveServer
from live import place_order as place
from playwright.async_api import expect

WAIT = 5_000  # ms
POSTER_LOADED = (
    "(() => { const i = document.querySelector('#kit img'); return i.complete && i.naturalWidth > 0 })()"
)


async def until_leader_in_room(live: LiveServer, leader: str, room: str) -> None:
    """The rooms a leader page shows come from the read models, which follow the commit by a moment."""
    projections = live.app.state.realtime.projections
    for _ in range(500):
        if room in projections.leader_rooms(leader):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{leader} never showed up in {room}")


async def test_the_kit_shows_the_poster_and_the_words_with_the_share_link_in_both_languages(
    browser: Any, live: LiveServer
) -> None:
    await place(live, "o-a1", [("tea", 1)])
    await until_leader_in_room(live, "lead-a", "room-1")
    answer = (await live.http.get("/api/v1/leaders/lead-a/kit", params={"room": "room-1"})).json()
    for lang, title, copied in ((None, "直播作战包", "已复制"), ("en", "Share kit", "Copied")):
        page = await open_screen(
            browser, live, "/leader/lead-a", live.token("leader", "lead-a"), viewport=PHONE, lang=lang
        )
        await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
        kit = page.locator("#kit")
        await expect(page.locator(".me")).to_be_in_viewport()  # the standing and commission come first
        await expect(kit.locator("summary h2")).to_have_text(title)
        await expect(kit.locator(".kit-text")).to_be_hidden()  # folded until asked for

        await kit.locator("summary").click()
        await page.wait_for_function(POSTER_LOADED, timeout=WAIT)
        text = await kit.locator(".kit-text").inner_text()
        assert answer["url"] in text and text.strip().endswith(answer["url"])
        assert "双十二预热专场" in text and ("China time" in text) == (lang == "en")
        save = kit.locator(".kit-save")
        assert (await save.get_attribute("download") or "").endswith(".png")
        assert await save.get_attribute("href") == await kit.locator("img").get_attribute("src")

        await kit.locator(".kit-copy").click()
        await expect(kit.locator(".kit-status")).to_have_text(copied, timeout=WAIT)
        assert await page.evaluate("navigator.clipboard.readText()") == text

        await kit.scroll_into_view_if_needed()
        await screenshot(page, f"leader-{lang or 'zh'}-kit")
        await page.context.close()


async def test_a_leader_with_no_room_yet_sees_no_kit(browser: Any, live: LiveServer) -> None:
    page = await open_screen(browser, live, "/leader/lead-b", live.token("leader", "lead-b"), viewport=PHONE)
    await expect(page.locator(".me")).to_be_visible()
    assert await page.locator("#kit").count() == 0
    await page.context.close()
