"""A leader's share kit for a room (API.md, Growth): the leader's live share link, the words to post with it and a
poster that carries it as a QR code.

The link is the one `POST /api/v1/rooms/{room}/links {leader, kind: "live"}` answers (catalog.share_link): read
here when it exists, created through the writer (once, idempotently) when it does not. The words come from
domain/share_kit.py; the poster is drawn by server/services/poster.py, off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from domain import share_kit
from domain.errors import DomainError
from domain.share_kit import KitFacts
from server.context import AppContext
from server.services import catalog, poster
from store import models


def _not_found(what: str, key: str) -> DomainError:
    return DomainError(f"unknown {what}: {key}", field=what, code="not_found")


async def facts(app: AppContext, leader: str, room: str) -> tuple[str, KitFacts]:
    """(the live share code, what the kit speaks of); 404 for an unknown leader or room."""
    async with app.engine.connect() as conn:
        lead = (await conn.execute(
            select(models.leaders.c.name, models.leaders.c.community).where(models.leaders.c.leader == leader)
        )).first()
        if lead is None:
            raise _not_found("leader", leader)
        hall = (await conn.execute(
            select(models.rooms.c.title, models.rooms.c.starts_at).where(models.rooms.c.room == room)
        )).first()
        if hall is None:
            raise _not_found("room", room)
        code = (await conn.execute(
            select(models.links.c.code).where(
                models.links.c.room == room, models.links.c.leader == leader, models.links.c.kind == "live"
            )
        )).scalar_one_or_none()
    if code is None:
        link, _created = await catalog.share_link(app, room, leader, "live")
        code = link["code"]
    url = f"{app.settings.public_url}/r/{code}"
    return code, KitFacts(hall.title, hall.starts_at, lead.name, lead.community, url)


def poster_path(app: AppContext, leader: str, room: str, lang: str) -> str:
    """The poster's address, signed for this leader and room: it opens without a header (a phone saving it)."""
    query = {"room": room, "sig": share_kit.poster_signature(app.settings.secret, leader, room)}
    if lang == "en":
        query["lang"] = "en"
    return f"/api/v1/leaders/{leader}/kit/poster.png?{urlencode(query)}"


async def kit(app: AppContext, leader: str, room: str, lang: str = "zh") -> dict[str, Any]:
    code, about = await facts(app, leader, room)
    return {
        "code": code,
        "url": about.url,
        "text": share_kit.share_text(about, lang),
        "poster_url": app.settings.public_url + poster_path(app, leader, room, lang),
    }


async def poster_png(app: AppContext, leader: str, room: str, lang: str = "zh") -> bytes:
    _code, about = await facts(app, leader, room)
    return await asyncio.to_thread(poster.render, share_kit.poster_text(about, lang))
