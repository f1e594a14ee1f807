"""The growth engine end to end in a real browser (issue #12): everything goes through the public API and the
screens' own forms — a leader's question reaches the host's wall and its answer the leader's phone; invited
visitors watching earn points and show as prospects the leader tags, until they order; a task completes and a
visitor becomes a leader, on the leader's phone, the host's feed and the ops funnel; visitors who clicked before a
room started and never came show as pre-live reminders on the ops funnel and their own leader's phone. Each page
changes without a reload (tests/web/test_growth_screens.py drives the same panels with events written straight to
the outbox)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from browser import PHONE, WALL, open_page, same_document, screenshot
from growth_seed import beat, visit, watch
from live import LiveServer, SeedClient
from playwright.async_api import expect
from seed import ROOM as ROOM_BODY
from seed import order_body, share_code

WAIT = 5_000
ROOM = "room-1"


async def rewarding_room(live: LiveServer, min_watch_s: int) -> SeedClient:
    """room-1 (seeded) with a small watched mark and 10 points per invited visitor who reaches it."""
    svc = SeedClient(live.http)
    answer = await svc.put(f"/api/v1/rooms/{ROOM}",
                           {**ROOM_BODY, "min_watch_s": min_watch_s, "invite_reward": {"points": 10}})
    assert answer.status_code == 200, answer.text
    return svc


async def open_section(page: Any, section: str) -> None:
    await page.locator(f'.g-sec[data-sec="{section}"] > summary').click()


async def test_a_question_asked_from_the_phone_reaches_the_host_and_the_answer_comes_back(
    browser: Any, live: LiveServer
) -> None:
    await share_code(SeedClient(live.http), "lead-a")  # lead-a takes part in room-1: the phone offers the form
    phone = await open_page(browser, live, "/leader/lead-a", "leader", "lead-a", PHONE)
    wall = await open_page(browser, live, f"/host/{ROOM}", "host", ROOM, WALL)

    await open_section(phone, "questions")
    form = phone.locator("form.ask-form")
    await form.locator('textarea[name="text"]').fill("龙井能试喝吗？")
    await form.locator('select[name="sku"]').select_option("tea")
    await form.locator("button").click()
    await expect(form.locator("[data-status]")).to_have_text("已发给主播 ✓", timeout=WAIT)
    mine = phone.locator(".my-q")
    await expect(mine.locator(".my-q-state")).to_have_text(["待回答"], timeout=WAIT)
    question = await mine.first.get_attribute("data-question")

    asked = wall.locator(f'.q[data-question="{question}"]')
    await expect(asked.locator(".q-text")).to_have_text("龙井能试喝吗？", timeout=WAIT)
    await expect(asked.locator(".q-who")).to_have_text("王团长")
    await expect(asked.locator(".q-sku")).to_have_text("明前龙井 250g")
    await asked.locator(".q-answer button").click()
    await expect(asked).to_have_class("q answered", timeout=WAIT)

    await expect(mine.locator(".my-q-state")).to_have_text(["已回答 ✓"], timeout=WAIT)
    assert await same_document(phone) and await same_document(wall)


async def test_an_invited_visitor_who_watches_earns_points_and_stays_a_prospect_until_ordering(
    browser: Any, live: LiveServer
) -> None:
    svc = await rewarding_room(live, min_watch_s=60)
    code = await share_code(svc, "lead-a")
    phone = await open_page(browser, live, "/leader/lead-a", "leader", "lead-a", PHONE, "en")
    for section in ("funnel", "prospects"):
        await open_section(phone, section)
    growth = phone.locator(".growth")
    prospect = growth.locator('.prospect[data-visitor="v-flow"]')
    watched = growth.locator('.g-sec[data-sec="funnel"] .gstep[data-step="watched"] .gstep-n')
    await expect(growth.locator(".g-points-n")).to_have_text("0")

    await visit(svc, "v-flow", code)
    await expect(prospect.locator(".prospect-watch")).to_have_text("watched 0s", timeout=WAIT)
    assert await beat(svc, "v-flow", 0) == 0
    assert await beat(svc, "v-flow", 30) == 30  # the screens hear of watch time by the minute and at the mark
    assert await beat(svc, "v-flow", 60) == 60  # the room's mark: lead-a's invite reward, once
    await expect(prospect.locator(".prospect-watch")).to_have_text("watched 1m", timeout=WAIT)
    await expect(growth.locator(".g-points-n")).to_have_text("10", timeout=WAIT)
    await expect(watched).to_have_text("1", timeout=WAIT)

    await prospect.locator(".prospect-edit > summary").click()
    form = prospect.locator("form.prospect-form")
    await form.locator('input[name="tags"]').fill("new mum, wants the gift box")
    await form.locator('input[name="note"]').fill("call after 8 pm")
    await form.locator("button").click()
    await expect(prospect.locator(".tag")).to_have_text(["new mum", "wants the gift box"], timeout=WAIT)
    await expect(prospect.locator(".prospect-note")).to_have_text("call after 8 pm")
    await growth.evaluate("el => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 56)")
    await screenshot(phone, "growth-flow-leader-en")

    placed = await live.http.post("/api/v1/orders", json=order_body("o-flow", "v-flow", [("tea", 1)]))
    assert placed.status_code == 201, placed.text
    await expect(prospect).to_have_count(0, timeout=WAIT)
    await expect(growth.locator('.g-sec[data-sec="funnel"] .gstep[data-step="ordered"] .gstep-n')).to_have_text("1")
    assert await same_document(phone)


async def test_a_task_completes_and_a_visitor_who_becomes_a_leader_joins_the_inviters_team(
    browser: Any, live: LiveServer
) -> None:
    svc = await rewarding_room(live, min_watch_s=60)
    code = await share_code(svc, "lead-a")
    task = {"title": "邀请 1 位好友看满 1 分钟", "goal": 1, "min_watch_s": 60, "reward": {"points": 50}}
    answer = await live.http.put(f"/api/v1/rooms/{ROOM}/tasks/t-one", json=task)
    assert answer.status_code == 201, answer.text
    phone = await open_page(browser, live, "/leader/lead-a", "leader", "lead-a", PHONE)
    wall = await open_page(browser, live, f"/host/{ROOM}", "host", ROOM, WALL)
    ops = await open_page(browser, live, "/ops", "ops", "-", WALL)
    await open_section(phone, "recruits")
    bar = phone.locator('.g-task[data-task="t-one"]')
    became = ops.locator('.gfun-panel .gstep[data-step="became_leader"] .gstep-n')
    await expect(bar.locator(".g-task-n")).to_have_text("0/1")

    await visit(svc, "v-new", code)
    await watch(svc, "v-new", 60)
    await expect(became).to_have_text("0", timeout=WAIT)  # the room's funnel shows from its first visitor
    await expect(bar.locator(".g-task-n")).to_have_text("已完成 ✓", timeout=WAIT)
    await expect(bar).to_have_class("g-task done")
    await expect(phone.locator(".g-points-n")).to_have_text("60", timeout=WAIT)  # 10 for the invite, 50 the task
    await expect(wall.locator('.feed-row[data-kind="task_done"]')).to_have_count(1, timeout=WAIT)
    await expect(wall.locator('.feed-row[data-kind="task_done"]')).to_contain_text("王团长")

    recruited = await live.http.post(f"/api/v1/rooms/{ROOM}/leaders",
                                     json={"visitor": "v-new", "leader": "lead-new", "name": "新团长小周"})
    assert recruited.status_code == 201, recruited.text
    await expect(phone.locator(".recruit-name")).to_have_text(["新团长小周"], timeout=WAIT)
    await expect(wall.locator('.feed-row[data-kind="recruit"]')).to_contain_text("新团长小周", timeout=WAIT)
    await expect(became).to_have_text("1", timeout=WAIT)
    for page in (phone, wall, ops):
        assert await same_document(page)


async def test_visitors_who_clicked_before_the_start_and_had_not_come_show_as_reminders_on_ops_and_their_leaders_phone(
    browser: Any, live: LiveServer
) -> None:
    svc = SeedClient(live.http)
    now = datetime.now(UTC).replace(microsecond=0)
    upcoming = {**ROOM_BODY, "title": "明晚预告场", "starts_at": (now - timedelta(minutes=1)).isoformat(),
                "ends_at": (now + timedelta(hours=2)).isoformat()}
    answer = await svc.put("/api/v1/rooms/room-pre", upcoming)
    assert answer.status_code in (200, 201), answer.text
    codes = {leader: await share_code(svc, leader, room="room-pre") for leader in ("lead-a", "lead-b")}
    live_code = await share_code(svc, "lead-a")
    phone = await open_page(browser, live, "/leader/lead-a", "leader", "lead-a", PHONE)
    ops = await open_page(browser, live, "/ops", "ops", "-", WALL)
    await open_section(phone, "funnel")

    async def click(visitor: str, code: str, before_start_s: float) -> None:
        at = (now - timedelta(minutes=1, seconds=before_start_s)).isoformat()
        answered = await svc.post("/api/v1/visits", {"visitor": visitor, "code": code, "at": at})
        assert answered.status_code == 200, answered.text

    for n in range(4):  # room-1, on air, has the most visitors: its funnel is the one the wall draws
        await click(f"v-live-{n}", live_code, 30)
    for visitor, leader in (("v-pre-1", "lead-a"), ("v-pre-2", "lead-a"), ("v-pre-3", "lead-b"), ("v-pre-0", "lead-a")):
        await click(visitor, codes[leader], 600)
    entered = await svc.post("/api/v1/rooms/room-pre/presence",
                             {"visitor": "v-pre-0", "at": (now - timedelta(minutes=5)).isoformat()})
    assert entered.status_code == 200, entered.text  # came in before the start: no reminder
    other = ops.locator('.gfun-panel .gfun-other[data-room="room-pre"] [data-reminders]')
    mine = phone.locator('.g-sec[data-sec="funnel"] [data-reminders]')
    await expect(ops.locator('.gfun-panel .gfun-room[data-room="room-1"]')).to_have_count(1, timeout=WAIT)
    await expect(other).to_have_count(0)
    await expect(mine).to_have_count(0)

    listed = await live.http.get("/api/v1/rooms/room-pre/reminders")  # the start has passed: reading queues them
    assert sorted((r["visitor"], r["state"]) for r in listed.json()["reminders"]) == [
        ("v-pre-1", "queued"), ("v-pre-2", "queued"), ("v-pre-3", "queued")]
    await expect(other).to_have_text("明晚预告场 · 开播提醒 待发 3 · 已发 0 · 失败 0", timeout=WAIT)
    await expect(mine).to_have_text("开播提醒 待发 2 · 已发 0 · 失败 0", timeout=WAIT)  # lead-b's visitor is not hers
    await expect(ops.locator('.gfun-own[data-room="room-1"] [data-reminders]')).to_have_count(0)
    await screenshot(ops, "growth-reminders-ops")
    await phone.locator('.g-sec[data-sec="funnel"]').scroll_into_view_if_needed()
    await screenshot(phone, "growth-reminders-leader")
    for page in (phone, ops):
        assert await same_document(page)
