"""The share kit's words (domain/share_kit.py): China's clock, the leader's voice, the link last; a signature that
opens one leader's poster of one room."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.share_kit import (
    KitFacts,
    lang_of,
    poster_signature,
    poster_signature_valid,
    poster_text,
    share_text,
    start_label,
)

FACTS = KitFacts(
    "年货节专场", datetime(2026, 12, 3, 12, 0, tzinfo=UTC), "王团长", "天河花园", "https://x.test/r/abc"
)


def test_the_start_is_told_on_chinas_clock() -> None:
    assert start_label(datetime(2026, 12, 3, 12, 0, tzinfo=UTC)) == "12月3日 20:00"
    # already the next year in China:
    assert start_label(datetime(2026, 12, 31, 16, 30, tzinfo=UTC)) == "1月1日 00:30"
    assert start_label(datetime(2026, 12, 3, 12, 0, tzinfo=UTC), "en") == "Dec 3, 20:00"


def test_the_words_name_room_start_and_leader_and_end_with_the_link() -> None:
    for lang in ("zh", "en"):
        text = share_text(FACTS, lang)
        assert "年货节专场" in text and "王团长" in text and "天河花园" in text
        assert text.endswith("https://x.test/r/abc")
    assert "12月3日 20:00" in share_text(FACTS) and "Dec 3, 20:00" in share_text(FACTS, "en")
    alone = KitFacts(FACTS.title, FACTS.starts_at, "王团长", None, FACTS.url)
    assert "我是王团长" in share_text(alone) and "None" not in share_text(alone, "en")


def test_the_poster_speaks_the_asked_language_chinese_by_default() -> None:
    assert lang_of(None) == lang_of("zh-CN") == lang_of("fr") == "zh"
    assert lang_of("en") == lang_of("en-US") == "en"
    assert poster_text(FACTS).when == "12月3日 20:00 准时开播"
    assert poster_text(FACTS, "en").url == FACTS.url


def test_a_poster_signature_opens_only_its_leader_and_room() -> None:
    sig = poster_signature("s", "lead-a", "room-1")
    assert poster_signature_valid("s", "lead-a", "room-1", sig)
    assert poster_signature_valid("s", "lead-a", "room-1", sig.upper())
    assert not poster_signature_valid("s", "lead-b", "room-1", sig)
    assert not poster_signature_valid("s", "lead-a", "room-2", sig)
    assert not poster_signature_valid("t", "lead-a", "room-1", sig)
    assert not poster_signature_valid("s", "lead-a", "room-1", None)
    assert not poster_signature_valid("s", "lead-a", "room-1", "é")
