"""Privacy (issue #10): reads of one order, leader or room need the API key or a token that opens that subject;
tokens expire; a revocation stops every earlier token of its subject at once, and later tokens work."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from datetime import timedelta
from typing import Any

from seed import GUANGZHOU_BUYER, SECRET, START, order_body, seed_catalog, share_code

from domain import tokens

NO_KEY = {"Authorization": ""}  # the service client sends the API key by default; this takes it away


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def get(svc: Any, path: str, token: str | None = None, *, as_query: bool = False) -> Any:
    """GET without the API key: with `token` as the bearer, or as ?token=, or with nothing at all."""
    if token is not None and as_query:
        return await svc.client.get(path, params={"token": token}, headers=NO_KEY)
    return await svc.client.get(path, headers=bearer(token) if token is not None else NO_KEY)


async def placed(svc: Any, order: str = "o-1", leader: str = "lead-a") -> dict[str, Any]:
    code = await share_code(svc, leader)
    response = await svc.post("/api/v1/orders", order_body(order, f"v-{order}", [("tea", 1)], code=code))
    assert response.status_code == 201, response.text
    return dict(response.json())


def tracking_token(answer: dict[str, Any]) -> str:
    return str(answer["tracking_url"].split("?token=", 1)[1])


async def until_leader_sells_in(svc: Any, leader: str, room: str) -> None:
    """The room a leader's screen shows comes from the read models, which follow the commit by a moment."""
    projections = svc.app.state.realtime.projections
    for _ in range(200):
        if room in projections.leader_rooms(leader):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{leader} never showed up in {room}")


def assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized" and response.json()["detail"]


# --- who may read what ---------------------------------------------------------------------------------------


async def test_an_order_read_without_a_right_credential_is_401(service: Any) -> None:
    await seed_catalog(service)
    await placed(service, "o-1", "lead-a")
    await service.put("/api/v1/rooms/room-2", {**_room(), "skus": ["tea"]})
    ctx = service.ctx
    for token in (
        None,
        "garbage",
        "wrong-api-key",
        ctx.token("order", "o-other"),
        ctx.token("leader", "lead-b"),  # not the order's leader
        ctx.token("host", "room-2"),  # not the order's room
        tokens.mint("another-secret", "ops", "-", now=START),
        ctx.token("order", "o-1")[:-2] + "AA",  # forged signature
    ):
        assert_unauthorized(await get(service, "/api/v1/orders/o-1", token))
    assert_unauthorized(
        await get(service, "/api/v1/orders/o-1", ctx.token("leader", "lead-b"), as_query=True)
    )


async def test_an_order_opens_to_the_key_its_tracking_token_its_leader_its_host_and_ops(service: Any) -> None:
    await seed_catalog(service)
    answer = await placed(service, "o-1", "lead-a")
    ctx = service.ctx
    own = tracking_token(answer)
    for token, sees_buyer in (
        (own, True),
        (ctx.token("leader", "lead-a"), False),
        (ctx.token("host", "room-1"), False),
        (ctx.token("ops", "-"), False),
    ):
        for as_query in (False, True):
            response = await get(service, "/api/v1/orders/o-1", token, as_query=as_query)
            assert response.status_code == 200, response.text
            assert response.json()["order"] == "o-1"
            assert (response.json()["buyer"]["name"] == "张三") is sees_buyer, token
    with_key = await service.client.get("/api/v1/orders/o-1")
    assert with_key.status_code == 200 and with_key.json()["buyer"]["name"] == "张三"


async def test_a_leaders_commission_opens_to_the_key_that_leader_and_ops_only(service: Any) -> None:
    await seed_catalog(service)
    await placed(service, "o-1", "lead-a")
    ctx = service.ctx
    path = "/api/v1/leaders/lead-a/commission"
    for token in (
        None,
        ctx.token("leader", "lead-b"),
        ctx.token("host", "room-1"),
        ctx.token("order", "o-1"),
    ):
        assert_unauthorized(await get(service, path, token))
    for token in (ctx.token("leader", "lead-a"), ctx.token("ops", "-")):
        for as_query in (False, True):
            assert (await get(service, path, token, as_query=as_query)).status_code == 200
    assert (await service.client.get(path)).status_code == 200


async def test_a_rooms_board_and_forecast_open_to_its_host_a_leader_selling_there_ops_and_the_key(
    service: Any,
) -> None:
    await seed_catalog(service)
    await service.put("/api/v1/rooms/room-2", _room())
    await placed(service, "o-1", "lead-a")
    await until_leader_sells_in(service, "lead-a", "room-1")
    ctx = service.ctx
    for path in ("/api/v1/rooms/room-1/leaderboard", "/api/v1/rooms/room-1/forecast"):
        for token in (
            None,
            ctx.token("host", "room-2"),
            ctx.token("leader", "lead-c"),  # has sold nothing in room-1: its screen shows no such board
            ctx.token("order", "o-1"),
        ):
            assert_unauthorized(await get(service, path, token))
        for token in (ctx.token("host", "room-1"), ctx.token("leader", "lead-a"), ctx.token("ops", "-")):
            for as_query in (False, True):
                response = await get(service, path, token, as_query=as_query)
                assert response.status_code == 200, (path, response.text)
        assert (await service.client.get(path)).status_code == 200


async def test_a_skus_stock_opens_to_the_key_ops_and_the_host_of_a_room_selling_it(service: Any) -> None:
    await seed_catalog(service)
    await service.put("/api/v1/rooms/room-2", {**_room(), "skus": ["mango"]})
    ctx = service.ctx
    path = "/api/v1/skus/tea/stock"
    for token in (None, ctx.token("host", "room-2"), ctx.token("leader", "lead-a")):
        assert_unauthorized(await get(service, path, token))
    for token in (ctx.token("host", "room-1"), ctx.token("ops", "-")):
        assert (await get(service, path, token)).status_code == 200
        assert (await get(service, path, token, as_query=True)).status_code == 200
    assert (await service.client.get(path)).status_code == 200


# --- expiry --------------------------------------------------------------------------------------------------


async def test_a_screen_token_works_until_its_expiry_and_is_401_after(service: Any) -> None:
    await seed_catalog(service)
    path = "/api/v1/leaders/lead-a/commission"
    default = service.ctx.token("leader", "lead-a")  # 30 days
    short = service.ctx.token("leader", "lead-a", ttl=timedelta(days=2))
    service.clock.advance(days=2, seconds=-1)
    assert (await get(service, path, short)).status_code == 200
    service.clock.advance(seconds=1)
    refused = await get(service, path, short)
    assert_unauthorized(refused)
    assert "expired" in refused.json()["detail"]
    service.clock.set(START + timedelta(days=30, seconds=-1))
    assert (await get(service, path, default)).status_code == 200
    service.clock.set(START + timedelta(days=30))
    assert_unauthorized(await get(service, path, default))


async def test_a_token_minted_with_an_expiry_in_the_past_is_refused(service: Any) -> None:
    await seed_catalog(service)
    stale = tokens.mint(
        SECRET, "ops", "-", now=START - timedelta(days=40), expires=START - timedelta(days=10)
    )
    assert_unauthorized(await get(service, "/api/v1/leaders/lead-a/commission", stale))


async def test_a_token_of_the_old_format_without_expiry_is_refused(service: Any) -> None:
    await seed_catalog(service)
    # ROLE.SUBJECT.SIGNATURE, signed over role and subject only: what every token looked like before expiry.
    mac = hmac.new(SECRET.encode(), b"ops\x00-", hashlib.sha256).digest()[:18]
    old = f"ops.LQ.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert_unauthorized(await get(service, "/api/v1/leaders/lead-a/commission", old))


async def test_a_tracking_link_expires_90_days_after_the_order_was_placed(service: Any) -> None:
    await seed_catalog(service)
    service.clock.advance(hours=1)
    answer = await placed(service, "o-1", "lead-a")
    link = tracking_token(answer)
    claim = tokens.read(SECRET, link)
    assert claim is not None and claim.expires_s == int((START + timedelta(hours=1, days=90)).timestamp())
    service.clock.advance(days=90, seconds=-1)
    assert (await get(service, "/api/v1/orders/o-1", link)).status_code == 200
    service.clock.advance(seconds=1)
    assert_unauthorized(await get(service, "/api/v1/orders/o-1", link))


# --- revocation ----------------------------------------------------------------------------------------------


async def test_a_revoked_token_is_401_at_once_and_a_token_minted_after_works(service: Any) -> None:
    await seed_catalog(service)
    path = "/api/v1/leaders/lead-a/commission"
    old = service.ctx.token("leader", "lead-a")
    other = service.ctx.token("leader", "lead-b")
    assert (await get(service, path, old)).status_code == 200
    service.clock.advance(seconds=5)
    revoked = await service.post("/api/v1/admin/tokens/revoke", {"role": "leader", "subject": "lead-a"})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {
        "role": "leader",
        "subject": "lead-a",
        "revoked_at": (START + timedelta(seconds=5)).isoformat(),
    }
    refused = await get(service, path, old)
    assert_unauthorized(refused)
    assert "revoked" in refused.json()["detail"]
    assert (await get(service, "/api/v1/leaders/lead-b/commission", other)).status_code == 200
    service.clock.advance(microseconds=1)
    fresh = service.ctx.token("leader", "lead-a")
    assert (await get(service, path, fresh)).status_code == 200


async def test_a_revocation_is_stored_with_its_event_in_one_transaction(service: Any) -> None:
    from sqlalchemy import select

    from store import models

    await seed_catalog(service)
    before = await service.counts()
    assert (
        await service.post("/api/v1/admin/tokens/revoke", {"role": "ops", "subject": "-"})
    ).status_code == 200
    after = await service.counts()
    assert after["token_revocations"] == before["token_revocations"] + 1
    assert after["outbox"] == before["outbox"] + 1
    async with service.ctx.engine.connect() as conn:
        last = (await conn.execute(select(models.outbox).order_by(models.outbox.c.seq.desc()))).first()
    assert last.kind == "tokens_revoked" and last.payload["role"] == "ops" and last.payload["subject"] == "-"


async def test_a_revocation_needs_the_api_key_and_a_known_role(service: Any) -> None:
    await seed_catalog(service)
    before = await service.counts()
    ops = service.ctx.token("ops", "-")
    body = {"role": "leader", "subject": "lead-a"}
    assert_unauthorized(await service.post("/api/v1/admin/tokens/revoke", body, headers=NO_KEY))
    forbidden = await service.post("/api/v1/admin/tokens/revoke", body, headers=bearer(ops))
    assert forbidden.status_code == 403  # a screen token is not the API key
    for wrong, field in (
        ({"role": "admin", "subject": "x"}, "role"),
        ({"role": "ops", "subject": "everyone"}, "subject"),
        ({"role": "leader", "subject": "-"}, "subject"),
        ({"role": "leader"}, "subject"),
        ({"role": "leader", "subject": "a b"}, "subject"),
    ):
        response = await service.post("/api/v1/admin/tokens/revoke", wrong)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field
    assert await service.counts() == before


async def test_a_screen_write_with_a_revoked_token_is_401(service: Any) -> None:
    await seed_catalog(service)
    host = service.ctx.token("host", "room-1")
    adjust = {"delta": 5, "reason": "到货"}
    path = "/api/v1/skus/tea/stock/SH/adjust"
    assert (await service.post(path, adjust, headers=bearer(host))).status_code == 200
    service.clock.advance(seconds=1)
    assert (
        await service.post("/api/v1/admin/tokens/revoke", {"role": "host", "subject": "room-1"})
    ).status_code == 200
    assert_unauthorized(await service.post(path, adjust, headers=bearer(host)))


async def test_revoking_an_orders_tracking_token_leaves_the_key_a_fresh_link(service: Any) -> None:
    await seed_catalog(service)
    link = tracking_token(await placed(service, "o-1", "lead-a"))
    service.clock.advance(seconds=1)
    assert (
        await service.post("/api/v1/admin/tokens/revoke", {"role": "order", "subject": "o-1"})
    ).status_code == 200
    assert_unauthorized(await get(service, "/api/v1/orders/o-1", link))
    service.clock.advance(seconds=1)
    fresh = tracking_token((await service.client.get("/api/v1/orders/o-1")).json())
    assert (await get(service, "/api/v1/orders/o-1", fresh)).status_code == 200


def _room() -> dict[str, Any]:
    from seed import ROOM

    return {**ROOM, "title": "另一个直播间"}


# --- who may change what -----------------------------------------------------------------------------------


async def test_a_leader_fixing_another_leaders_held_order_is_403_and_the_order_stays_held(
    service: Any,
) -> None:
    await seed_catalog(service)
    code = await share_code(service, "lead-a")
    landline = {**GUANGZHOU_BUYER, "phone": "020-12345678"}
    body = order_body("o-held", "v-held", [("tea", 1)], code=code, buyer=landline)
    assert (await service.post("/api/v1/orders", body)).json()["status"] == "held"
    fixed = {"phone": "13600001111"}
    path = "/api/v1/orders/o-held/verify"
    refused = await service.client.post(
        path, json=fixed, headers=bearer(service.ctx.token("leader", "lead-b"))
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "forbidden" and "lead-b" in refused.json()["detail"]
    assert (await service.client.get("/api/v1/orders/o-held")).json()["status"] == "held"
    own = await service.client.post(path, json=fixed, headers=bearer(service.ctx.token("leader", "lead-a")))
    assert own.status_code == 200 and own.json()["status"] == "accepted", own.text
