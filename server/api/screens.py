"""What the screens may change, for web/actions.py: the same services the JSON API calls, with the same body rules.

The composition root hands one `ScreenActions` to the web layer (app.state.screen_actions), so the screens write
without reaching the database or importing the services themselves. Refusals are raised as DomainError (an
ApiError for authorization and shape), with `field` naming the input at fault.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from domain.share_kit import lang_of
from server.api.catalog import AdjustBody, StatusBody
from server.api.errors import ApiError, from_validation
from server.api.orders import VerifyBody
from server.context import AppContext
from server.services import carrier_capacity, catalog, growth, kit, order_changes, questions, review

M = TypeVar("M", bound=BaseModel)


def _valid(model: type[M], values: dict[str, object]) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise from_validation(error) from None


class ScreenActions:
    def __init__(self, app: AppContext) -> None:
        self.app = app

    async def _room_sells(self, room: str, sku: str) -> None:
        if not await catalog.room_sells(self.app, room, sku):
            raise ApiError(403, "forbidden", f"room {room} does not sell {sku}", "sku")

    async def replenish(self, room: str, sku: str, warehouse: str, delta: int, reason: str,
                        adjustment: str | None) -> None:
        await self._room_sells(room, sku)
        body = _valid(AdjustBody, {"delta": delta, "reason": reason, "adjustment": adjustment})
        await catalog.adjust_stock(self.app, sku, warehouse, body.delta, reason=body.reason,
                                   adjustment=body.adjustment)

    async def set_presale(self, room: str, sku: str, on: bool) -> None:
        await self._room_sells(room, sku)
        await catalog.put_sku(self.app, sku, {"presale_when_sold_out": on})

    async def set_warehouse(self, code: str, active: bool) -> None:
        body = _valid(StatusBody, {"active": active})
        await catalog.warehouse_status(self.app, code, body.active)

    async def raise_carrier(self, carrier: str, by: int) -> None:
        """The ops wall's +N on a carrier's daily capacity."""
        await carrier_capacity.raise_capacity(self.app, carrier, by)

    async def set_carrier(self, carrier: str, active: bool) -> None:
        """Mark a carrier down (no parcels until it is up) or up."""
        await carrier_capacity.set_active(self.app, carrier, active)

    async def verify(self, leader: str, order: str, fields: dict[str, str]) -> None:
        body = _valid(VerifyBody, fields)
        fixes = {k: v for k, v in body.model_dump().items() if v is not None}
        await order_changes.verify(self.app, order, fixes, leader)

    async def share_kit(self, leader: str, room: str, lang: str) -> dict[str, Any]:
        """The leader's share kit for the room (GET /api/v1/leaders/{leader}/kit), with the poster's address as a
        path on this server, for the leader page to draw."""
        answer = await kit.kit(self.app, leader, room, lang_of(lang))
        return {**answer, "poster_path": kit.poster_path(self.app, leader, room, lang_of(lang))}

    async def review(self, room: str) -> dict[str, Any]:
        """A room's post-live review (GET /api/v1/rooms/{room}/review), for the /review/{room} page."""
        return await review.room_review(self.app, room)

    async def review_page(self, room: str) -> dict[str, Any]:
        """The review and the names the page shows instead of ids ({"review": …, "names": …})."""
        answer = await review.room_review(self.app, room)
        return {"review": answer, "names": await review.page_names(self.app, room, answer)}

    # --- growth (issue #12): the leader's prospect tags, questions for the host ---------------------------------

    async def set_prospect_note(self, leader: str, visitor: str, tags: list[str], note: str) -> None:
        await growth.note_prospect(self.app, leader, visitor, tags, note)

    async def ask(self, room: str, leader: str, text: str, sku: str | None) -> None:
        await questions.ask(self.app, room, leader, text, sku)

    async def answer(self, question: str) -> None:
        await questions.answer(self.app, question)

