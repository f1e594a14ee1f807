"""A leader's share kit (直播作战包, issue 12): the leader's live share link of a room, words to post with it and a
poster whose QR code reads back as that link. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import zxingcpp
from PIL import Image
from seed import SECRET, seed_catalog, share_code

from domain.share_kit import poster_signature

NO_KEY = {"Authorization": ""}  # the service client sends the API key by default; this takes it away
KIT = "/api/v1/leaders/lead-a/kit"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def kit(svc: Any, leader: str = "lead-a", room: str = "room-1", **params: str) -> dict[str, Any]:
    response = await svc.client.get(f"/api/v1/leaders/{leader}/kit", params={"room": room, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_the_kit_answers_the_leaders_live_share_link_and_words_naming_the_room(service: Any) -> None:
    await seed_catalog(service)
    answer = await kit(service)
    assert answer["code"] == await share_code(service, "lead-a")  # the link POST /links answers, live kind
    assert answer["url"] == f"http://liveroom.test/r/{answer['code']}"
    text = answer["text"]
    assert "双十二预热专场" in text and "11月23日 20:00" in text  # 12:00 UTC is 20:00 in China
    assert "王团长" in text and "天河花园" in text and text.endswith(answer["url"])
    english = await kit(service, lang="en")
    assert english["code"] == answer["code"] and english["url"] == answer["url"]
    assert "Nov 23, 20:00" in english["text"] and "China time" in english["text"]
    assert english["text"].endswith(answer["url"]) and "王团长" in english["text"]


async def test_asking_for_the_kit_twice_answers_the_same_code_and_stores_one_link(service: Any) -> None:
    await seed_catalog(service)
    before = (await service.counts())["links"]
    first, second = await kit(service), await kit(service)
    assert first == second
    assert (await service.counts())["links"] == before + 1
    replay = await kit(service, leader="lead-b")
    assert replay["code"] != first["code"]


async def test_the_posters_qr_code_reads_back_as_exactly_the_kits_link(service: Any) -> None:
    await seed_catalog(service)
    for lang in ("zh-CN", "en"):
        answer = await kit(service, leader="lead-c", lang=lang)
        # the signed address opens with no header at all
        response = await service.client.get(path_of(answer["poster_url"]), headers=NO_KEY)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(response.content))
        assert image.size == (750, 1200)
        assert [code.text for code in zxingcpp.read_barcodes(image)] == [answer["url"]]


async def test_a_poster_without_its_signature_or_a_credential_is_401(service: Any) -> None:
    await seed_catalog(service)
    poster = "/api/v1/leaders/lead-a/kit/poster.png"
    good = poster_signature(SECRET, "lead-a", "room-1")
    refused = [
        {"room": "room-1"},
        {"room": "room-1", "sig": "00" * 32},
        {"room": "room-1", "sig": poster_signature("another-secret", "lead-a", "room-1")},
        {"room": "room-1", "sig": poster_signature(SECRET, "lead-b", "room-1")},  # another leader's poster
        {"room": "room-2", "sig": good},  # signed for another room
    ]
    for params in refused:
        response = await service.client.get(poster, params=params, headers=NO_KEY)
        assert response.status_code == 401, params
        assert response.json()["error"] == "unauthorized"
    own = service.ctx.token("leader", "lead-a")
    assert (
        await service.client.get(poster, params={"room": "room-1"}, headers=bearer(own))
    ).status_code == 200
    assert (await service.client.get(poster, params={"room": "room-1"})).status_code == 200  # the API key
    other = service.ctx.token("leader", "lead-b")
    assert (
        await service.client.get(poster, params={"room": "room-1"}, headers=bearer(other))
    ).status_code == 401


async def test_the_kit_opens_to_the_key_and_the_leaders_own_token_only(service: Any) -> None:
    await seed_catalog(service)
    own = service.ctx.token("leader", "lead-a")
    query = {"room": "room-1"}
    assert (await service.client.get(KIT, params=query, headers=bearer(own))).status_code == 200
    assert (await service.client.get(KIT, params={**query, "token": own}, headers=NO_KEY)).status_code == 200
    before = await service.counts()
    for headers in (
        NO_KEY,
        bearer(service.ctx.token("leader", "lead-b")),
        bearer("leader.lead-a.x.y.forged"),
    ):
        response = await service.client.get(KIT, params=query, headers=headers)
        assert response.status_code == 401, response.text
    assert (await service.client.get(KIT, params=query, headers=bearer("wrong-key"))).status_code == 401
    assert await service.counts() == before


async def test_an_unknown_room_or_leader_is_404_and_a_missing_room_422_with_nothing_written(
    service: Any,
) -> None:
    await seed_catalog(service)
    before = await service.counts()
    unknown_room = await service.client.get(KIT, params={"room": "room-9"})
    assert unknown_room.status_code == 404 and unknown_room.json()["field"] == "room"
    unknown_leader = await service.client.get("/api/v1/leaders/lead-z/kit", params={"room": "room-1"})
    assert unknown_leader.status_code == 404 and unknown_leader.json()["field"] == "leader"
    missing = await service.client.get(KIT)
    assert missing.status_code == 422 and missing.json()["field"] == "room"
    bad = await service.client.get(KIT, params={"room": "room 1!"})
    assert bad.status_code == 422 and bad.json()["field"] == "room"
    poster = await service.client.get(
        "/api/v1/leaders/lead-a/kit/poster.png",
        params={"room": "room-9", "sig": poster_signature(SECRET, "lead-a", "room-9")},
        headers=NO_KEY,
    )
    assert poster.status_code == 404
    assert await service.counts() == before
