"""Opening a screen the way its user does, and keeping screenshots for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from live import LiveServer

SCREENSHOTS = Path(__file__).resolve().parents[1] / "web" / "screenshots"
PHONE = {"width": 375, "height": 812}
WALL = {"width": 1920, "height": 1080}


async def open_screen(
    browser: Any,
    live: LiveServer,
    path: str,
    token: str,
    *,
    viewport: dict[str, int],
    lang: str | None = None,
) -> Any:
    """Open a screen the way its user does (the link with ?token=), and wait until its socket is live."""
    context = await browser.new_context(
        viewport=viewport, locale="en-US" if lang == "en" else "zh-CN", device_scale_factor=1
    )
    page = await context.new_page()
    query = f"?token={token}" + (f"&lang={lang}" if lang else "")
    await page.goto(live.url + path + query)
    await page.wait_for_selector("#conn.conn-live", timeout=10_000)
    return page


async def open_page(
    browser: Any,
    live: LiveServer,
    path: str,
    role: str,
    subject: str,
    viewport: dict[str, int],
    lang: str | None = None,
) -> Any:
    """`open_screen` with a token of `role` for `subject`, the page marked so that a reload would show
    (`same_document`)."""
    page = await open_screen(browser, live, path, live.token(role, subject), viewport=viewport, lang=lang)
    await page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
    return page


async def same_document(page: Any) -> bool:
    """True while the page opened by `open_page` has never reloaded."""
    return bool(await page.evaluate("window.__sameDocument === true"))


async def screenshot(page: Any, name: str) -> Path:
    """Keep a picture of the screen for a person to look at (tests/web/screenshots/, not committed)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=False)
    return path
