"""The growth panels (issue #12, "The screens") in a real browser: the leader's phone (points, tasks, funnel,
prospects, recruits, questions), the host's question queue and growth rows in the feed, the ops funnel and the
invitation leaders, and the board's "most invitations" — each updating without a reload, in Chinese and English.

Growth events are committed the way a growth service commits them (through the writer, into the outbox); the relay,
the projections and the hub do the rest. Screenshots land in tests/web/screenshots/ for a person to look at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from babel.messages.extract import extract_from_file
from browser import PHONE, WALL, open_page, same_document, screenshot
from jinja2.ext import babel_extract
from live import LiveServer
from live import place_order as place
from playwright.async_api import expect
from seed import share_code

from domain.events import (
    Event,
    LeaderRecruited,
    PointsEarned,
    ProspectNoted,
    QuestionAnswered,
    QuestionAsked,
    TaskProgressed,
    VisitorEntered,
    VisitorWatching,
)
from store import models
from web.i18n import catalog
from web.render import TEMPLATES

WAIT = 5_000
ROOM = "room-1"
TASK = {"room": ROOM, "task": "t-invite", "title": "邀请 3 位好友看满 5 分钟", "goal": 3, "min_watch_s": 300,
        "reward_points": 50, "bonus_bp": 100}


def now(minutes: float = 0) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


async def emit(live: LiveServer, *events: Event, task: dict[str, Any] | None = None) -> None:
    from domain.events import CatalogChanged

    async def write(tx: Any) -> None:
        if task is not None:
            await tx.conn.execute(models.room_tasks.insert(), [{**task, "updated_at": tx.now}])
            tx.emit(CatalogChanged(at=tx.now, entity="task", key=task["room"]))
        tx.emit(*events)

    await live.ctx.writer.call(write)


async def visit(live: LiveServer, visitor: str, leader: str) -> None:
    code = await share_code(_Svc(live), leader)
    response = await live.http.post("/api/v1/visits", json={"visitor": visitor, "code": code})
    assert response.status_code == 200, response.text


class _Svc:
    def __init__(self, live: LiveServer) -> None:
        self.live = live

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        return await self.live.http.post(path, json=body)


async def a_live_session(live: LiveServer) -> None:
    """lead-a invites three visitors (one orders), lead-b one; the room has an invitation task."""
    for visitor in ("v-1", "v-2", "v-3"):
        await visit(live, visitor, "lead-a")
    await visit(live, "v-9", "lead-b")
    await emit(
        live,
        VisitorEntered(at=now(), room=ROOM, visitor="v-1", leader="lead-a"),
        VisitorEntered(at=now(), room=ROOM, visitor="v-2", leader="lead-a"),
        VisitorWatching(at=now(), room=ROOM, visitor="v-1", leader="lead-a", watched_s=320, watched=True),
        VisitorWatching(at=now(), room=ROOM, visitor="v-2", leader="lead-a", watched_s=180),
        TaskProgressed(at=now(), room=ROOM, task="t-invite", leader="lead-a", goal=3, invited=3, watched=1,
                       done=False),
        PointsEarned(at=now(), room=ROOM, leader="lead-a", reason="invite", ref="v-1", points=10, balance=10),
        ProspectNoted(at=now(), leader="lead-a", visitor="v-2", tags=("宝妈", "想要礼盒"), note="晚上八点后联系"),
        ProspectNoted(at=now(), leader="lead-b", visitor="v-9", tags=("李哥的秘密标签",), note="只给李哥看"),
        task=TASK,
    )


async def test_the_leaders_phone_shows_points_tasks_prospects_recruits_and_answers_live(
    browser: Any, live: LiveServer
) -> None:
    await a_live_session(live)
    await place(live, "o-1", [("tea", 1)])  # through lead-a's link: lead-a is on the board
    for lang in (None, "en"):
        page = await open_page(browser, live, "/leader/lead-a", "leader", "lead-a", PHONE, lang)
        growth = page.locator(".growth")
        await expect(growth.locator(".g-points-n")).to_have_text("10")
        await expect(growth.locator(".g-task-n")).to_have_text("1/3")
        for section in ("funnel", "prospects", "questions"):
            await page.locator(f'.g-sec[data-sec="{section}"] > summary').click()
        await expect(growth.locator('.prospect[data-visitor="v-2"] .tag')).to_have_text(["宝妈", "想要礼盒"])
        await expect(growth.locator(".prospect")).to_have_count(3)  # v-1, v-2, v-3 (o-1's buyer is another)
        assert "李哥的秘密标签" not in await page.content()
        await page.evaluate("window.scrollTo(0, 0)")
        await screenshot(page, f"growth-leader-top-{lang or 'zh'}")  # the board and commission come first
        await growth.evaluate("el => el.scrollIntoView()")
        await screenshot(page, f"growth-leader-{lang or 'zh'}")
        await page.context.close()

    page = await open_page(browser, live, "/leader/lead-a", "leader", "lead-a", PHONE)
    await page.locator('.g-sec[data-sec="recruits"] > summary').click()
    await page.locator('.g-sec[data-sec="questions"] > summary').click()
    await emit(
        live,
        TaskProgressed(at=now(1), room=ROOM, task="t-invite", leader="lead-a", goal=3, invited=3, watched=3,
                       done=True),
        PointsEarned(at=now(1), room=ROOM, leader="lead-a", reason="task", ref="t-invite", points=50, balance=60),
        LeaderRecruited(at=now(1), room=ROOM, leader="lead-new", name="新团长小周", upline="lead-a", visitor="v-3"),
        QuestionAsked(at=now(1), room=ROOM, question="q-1", leader="lead-a", leader_name="王团长",
                      text="龙井能试喝吗？", sku="tea"),
    )
    await expect(page.locator(".g-points-n")).to_have_text("60", timeout=WAIT)
    await expect(page.locator(".g-task-n")).to_have_text("已完成 ✓", timeout=WAIT)
    await expect(page.locator(".recruit-name")).to_have_text(["新团长小周"], timeout=WAIT)
    await expect(page.locator('.my-q[data-question="q-1"] .my-q-state')).to_have_text("待回答", timeout=WAIT)
    await emit(live, QuestionAnswered(at=now(2), room=ROOM, question="q-1", leader="lead-a"))
    await expect(page.locator('.my-q[data-question="q-1"] .my-q-state')).to_have_text("已回答 ✓", timeout=WAIT)
    # The sections the leader opened stay open through every frame; nothing reloaded.
    assert await page.locator('.g-sec[data-sec="recruits"]').get_attribute("open") is not None
    assert await same_document(page)
    await page.locator(".growth").evaluate("el => el.scrollIntoView()")
    await screenshot(page, "growth-leader-live")


async def test_the_host_sees_the_question_queue_and_recruits_and_tasks_in_the_feed(
    browser: Any, live: LiveServer
) -> None:
    await a_live_session(live)
    for lang in ("en", None):
        page = await open_page(browser, live, f"/host/{ROOM}", "host", ROOM, WALL, lang)
        await emit(
            live,
            QuestionAsked(at=now(), room=ROOM, question=f"q-{lang}", leader="lead-a", leader_name="王团长",
                          text="蓝色那件能上身看看吗？", sku="tea"),
            LeaderRecruited(at=now(), room=ROOM, leader=f"lead-n{lang}", name="新团长小周", upline="lead-a",
                            visitor=f"v-r{lang}"),
            TaskProgressed(at=now(), room=ROOM, task="t-invite", leader="lead-b", goal=3, invited=3, watched=3,
                           done=True),
        )
        question = page.locator(f'.q[data-question="q-{lang}"]')
        await expect(question.locator(".q-text")).to_have_text("蓝色那件能上身看看吗？", timeout=WAIT)
        await expect(question.locator(".q-who")).to_have_text("王团长")
        await expect(question.locator(".q-sku")).to_have_text("明前龙井 250g")
        await expect(page.locator('.feed-row[data-kind="recruit"]').first).to_contain_text("新团长小周", timeout=WAIT)
        badge = "New leader" if lang == "en" else "新团长加入"
        await expect(page.locator('.feed-row[data-kind="recruit"] .feed-badge').first).to_have_text(badge)
        await expect(page.locator('.feed-row[data-kind="task_done"]')).to_have_count(1, timeout=WAIT)
        await expect(question.locator(".q-answer button")).to_be_visible()
        await screenshot(page, f"growth-host-waiting-{lang or 'zh'}")
        await emit(live, QuestionAnswered(at=now(1), room=ROOM, question=f"q-{lang}", leader="lead-a"))
        await expect(question).to_have_class("q answered", timeout=WAIT)
        assert await same_document(page)
        await screenshot(page, f"growth-host-{lang or 'zh'}")
        await page.context.close()


async def test_ops_shows_the_room_funnel_and_the_invitation_leaders_live(browser: Any, live: LiveServer) -> None:
    await a_live_session(live)
    for lang in (None, "en"):
        page = await open_page(browser, live, "/ops", "ops", "-", WALL, lang)
        clicked = page.locator('.gfun-panel .gstep[data-step="clicked"] .gstep-n')
        await expect(clicked).to_have_text("4")
        await expect(page.locator(".inv-table tbody tr").first).to_have_attribute("data-leader", "lead-a")
        await emit(live, LeaderRecruited(at=now(), room=ROOM, leader=f"lead-x{lang}", name="小新", upline="lead-b",
                                         visitor=f"v-x{lang}"))
        became = page.locator('.gfun-panel .gstep[data-step="became_leader"] .gstep-n')
        await expect(became).to_have_text("1" if lang is None else "2", timeout=WAIT)
        assert await same_document(page)
        await screenshot(page, f"growth-ops-{lang or 'zh'}")
        await page.context.close()


async def test_the_leaders_frames_never_carry_another_leaders_prospects(browser: Any, live: LiveServer) -> None:
    await a_live_session(live)
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: frames.append(
        p if isinstance(p, str) else p.decode("utf-8", "replace"))))
    await page.goto(f"{live.url}/leader/lead-a?token={live.token('leader', 'lead-a')}")
    await page.wait_for_selector("#conn.conn-live", timeout=10_000)
    await emit(
        live,
        VisitorWatching(at=now(), room=ROOM, visitor="v-9", leader="lead-b", watched_s=400, watched=True),
        ProspectNoted(at=now(), leader="lead-b", visitor="v-9", tags=("邻居的隐私标签",), note="李哥的私人备注"),
        QuestionAsked(at=now(), room=ROOM, question="q-b", leader="lead-b", leader_name="李店长",
                      text="李店长的私密提问", sku=None),
        PointsEarned(at=now(), room=ROOM, leader="lead-a", reason="invite", ref="v-2", points=10, balance=20),
    )
    await expect(page.locator(".g-points-n")).to_have_text("20", timeout=WAIT)
    everything = "\n".join(frames) + await page.content()
    for secret in ("v-9", "邻居的隐私标签", "李哥的私人备注", "李哥的秘密标签", "李店长的私密提问"):
        assert secret not in everything, secret
    await context.close()


def test_every_string_of_the_growth_panels_has_its_chinese() -> None:
    chinese = catalog("zh_CN")
    options = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true",
               "newstyle_gettext": "true"}
    missing = []
    for name in ("frames/growth.html", "frames/questions.html", "frames/feed.html", "frames/board.html",
                 "frames/ops.html", "actions.html", "leader.html", "host.html"):
        for _, message, _, _ in extract_from_file(babel_extract, TEMPLATES / name, options=options):
            key = message[0] if isinstance(message, tuple) else message
            if not (chinese.get(key) and chinese.get(key).string):
                missing.append((name, key))
    assert missing == []
