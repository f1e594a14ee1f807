"""A leader's share kit (直播作战包): the words a leader posts with a live share link, and those of its poster.

Pure formatting: the room's title and start time, the leader's name and community, and the link go in; text comes
out, Chinese by default, English when asked. The start time is on China's clock ("12月3日 20:00"), where the
leader and everyone the leader shares with live. The poster's address carries a signature (`poster_signature`) so
it opens on a phone with no header to send: it names one leader and one room and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from domain.china_time import china_time

LANGS = ("zh", "en")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class KitFacts:
    """What the kit speaks of."""

    title: str
    starts_at: datetime  # aware
    leader_name: str
    community: str | None
    url: str


@dataclass(frozen=True)
class PosterText:
    """The poster's lines, top to bottom."""

    badge: str
    title: str
    when: str
    who: str
    call: str
    url: str


def lang_of(value: str | None) -> str:
    """ "en" (or "en-US", ...) is English; anything else is Chinese, the default."""
    return "en" if value and value.lower().split("-")[0].split("_")[0] == "en" else "zh"


def start_label(starts_at: datetime, lang: str = "zh") -> str:
    """The start on China's clock: "12月3日 20:00", or "Dec 3, 20:00" in English."""
    at = china_time(starts_at)
    if lang == "en":
        return f"{_MONTHS[at.month - 1]} {at.day}, {at:%H:%M}"
    return f"{at.month}月{at.day}日 {at:%H:%M}"


def _who(facts: KitFacts, lang: str) -> str:
    community = (facts.community or "").strip()
    if lang == "en":
        return f"{facts.leader_name} from {community}" if community else facts.leader_name
    return f"{community}的{facts.leader_name}" if community else facts.leader_name


def share_text(facts: KitFacts, lang: str = "zh") -> str:
    """The copy a leader pastes into a group chat, in the leader's own voice, ending with the link."""
    when = start_label(facts.starts_at, lang)
    if lang == "en":
        return (
            f'Hi neighbours, it\'s {_who(facts, "en")}! Our live show "{facts.title}" starts {when} '
            f"(China time). Live-only prices and limited stock. Tap to join me in the live room, and I'll look "
            f"after your order from start to finish: {facts.url}"
        )
    return (
        f"家人们好，我是{_who(facts, 'zh')}！{when}「{facts.title}」准时开播，直播间专属价、限量好物，"
        f"从我这里进直播间下单，售后我全程跟进～点链接进直播间：{facts.url}"
    )


def poster_text(facts: KitFacts, lang: str = "zh") -> PosterText:
    when = start_label(facts.starts_at, lang)
    if lang == "en":
        return PosterText(
            badge="LIVE PREVIEW",
            title=facts.title,
            when=f"Live {when} (China time)",
            who=f"Invited by {_who(facts, 'en')}",
            call="Scan to join the live room",
            url=facts.url,
        )
    return PosterText(
        badge="直播预告",
        title=facts.title,
        when=f"{when} 准时开播",
        who=f"{_who(facts, 'zh')} 邀你看直播",
        call="长按识别二维码 进入直播间",
        url=facts.url,
    )


def poster_signature(secret: str, leader: str, room: str) -> str:
    """HMAC-SHA256(secret, "poster|leader|room") in hex: the poster address opens this poster and nothing else."""
    return hmac.new(secret.encode(), f"poster|{leader}|{room}".encode(), hashlib.sha256).hexdigest()


def poster_signature_valid(secret: str, leader: str, room: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(
        poster_signature(secret, leader, room).encode(), presented.strip().lower().encode()
    )
