"""The leaders' work during the show: every couple of simulated minutes one of the busiest leaders (or a recruit)
looks at their prospects — visitors bound to them who have not ordered — and tags a couple of them; leaders ask
the host questions about a SKU, and the host answers most of them a few simulated minutes later."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from simulator.client import Api, answer_of
from simulator.config import SimConfig
from simulator.growth import Growth
from simulator.stats import Stats
from simulator.timeline import Timeline

WORK_EVERY_SIM_S = 120
BUSIEST = 8  # the leaders who work their prospects (with the recruits)
TAGS = ("想买水果", "价格敏感", "宝妈", "已加微信", "回头客", "送礼", "等降价", "问过发货")
NOTES = ("直播间看了很久没下单，晚上再私聊", "问过车厘子的规格", "想等满减", "小区群里的邻居", "")
QUESTIONS: tuple[tuple[str, str | None, str], ...] = (
    ("这个车厘子是JJ级吗？多大果径？", "cherry", "是JJ级，果径28-30mm，坏果包赔"),
    ("脐橙甜不甜，有酸的吗？", "navel-orange", "赣南当季果，糖度13以上，不甜包退"),
    ("面膜敏感肌能用吗？", "hyaluronic-mask", "无酒精无香精，敏感肌可以先在耳后试用"),
    ("坚果礼盒保质期多久？", "nut-gift", "保质期180天，都是近一个月生产的"),
    ("螺蛳粉辣不辣，小孩能吃吗？", "luosifen", "辣包单独包装，不放就不辣"),
    ("芒果路上会不会压坏？", "guifei-mango", "单果网套加泡沫箱，压坏拍照包赔"),
    ("防晒乳油不油？", "sunscreen", "清透型，不油腻，适合通勤"),
    ("口红礼盒是哪三个色号？", "lip-set", "正红、豆沙、枫叶棕各一支"),
    ("精华液孕妇能用吗？", "repair-serum", "建议孕期先咨询医生，成分表在详情页"),
    ("今天下单几点发货？能送到自提点吗？", None, "下午四点前下单当天发，自提点次日到"),
)
ANSWERED = 0.7


class Community:
    def __init__(self, cfg: SimConfig, api: Api, stats: Stats, clock: Timeline, growth: Growth) -> None:
        self.cfg, self.api, self.stats, self.clock, self.growth = cfg, api, stats, clock, growth
        self.leaders: list[str] = []  # the busiest leaders (set once the catalog is in)
        self.rng = random.Random(f"{cfg.seed}:community")

    def _working(self) -> list[str]:
        return self.leaders[:BUSIEST] + [r.leader for r in self.growth.recruits]

    async def run(self) -> None:
        """One leader's round every WORK_EVERY_SIM_S simulated seconds (at most one a second of wall time)."""
        turn = 0
        while True:
            await asyncio.sleep(max(1.0, WORK_EVERY_SIM_S / self.cfg.speed))
            leaders = self._working()
            if not leaders:
                continue
            leader = leaders[turn % len(leaders)]
            turn += 1
            if self.growth.features.on("prospects"):
                self.clock.spawn(self.tag_prospects(leader))
            if self.growth.features.on("questions") and self.rng.random() < 0.6:
                self.clock.spawn(self.ask(leader))

    async def tag_prospects(self, leader: str) -> None:
        response = await self.api.get(f"/api/v1/leaders/{leader}/prospects?room={self.cfg.room}")
        if response is None or not self._ok("prospects", response, f"prospects of {leader}"):
            return
        prospects: list[dict[str, Any]] = list(answer_of(response).get("prospects") or [])
        untagged = [p for p in prospects if not p.get("tags")]
        rng = random.Random(f"{self.cfg.seed}:{leader}:{len(prospects)}:tags")
        for prospect in untagged[:2]:
            visitor = str(prospect.get("visitor"))
            body = {"tags": rng.sample(TAGS, rng.randint(1, 3)), "note": rng.choice(NOTES)}
            answer = await self.api.put(f"/api/v1/leaders/{leader}/prospects/{visitor}", body)
            if answer is not None and self._ok("prospects", answer, f"tag {visitor}"):
                self.stats.prospects_tagged += 1

    async def ask(self, leader: str) -> None:
        text, sku, reply = self.rng.choice(QUESTIONS)
        body: dict[str, Any] = {"leader": leader, "text": text}
        if sku is not None:
            body["sku"] = sku
        response = await self.api.post(f"/api/v1/rooms/{self.cfg.room}/questions", body)
        if response is None or not self._ok("questions", response, f"question by {leader}"):
            return
        self.stats.questions += 1
        question = str(answer_of(response).get("question") or "")
        if question and self.rng.random() < ANSWERED:
            when = self.clock.after_sim_minutes(self.rng.uniform(1, 5))
            self.clock.schedule(when, self.answer, question, reply)

    async def answer(self, question: str, reply: str) -> None:
        response = await self.api.post(f"/api/v1/questions/{question}/answer", {"text": reply})
        if response is not None and self._ok("questions", response, f"answer {question}"):
            self.stats.answered_questions += 1

    def _ok(self, feature: str, response: Any, what: str) -> bool:
        if self.growth.features.answered(feature, response):
            return True
        if response.status_code != 404:
            self.stats.error(f"{what}: {response.status_code} {response.text[:160]}")
        return False
