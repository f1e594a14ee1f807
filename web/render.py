"""Jinja2 environments (one per language) and the filters every screen uses."""

from __future__ import annotations

import secrets
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from domain.china_time import china_time
from web.i18n import LOCALES, translations

TEMPLATES = Path(__file__).resolve().parent / "templates"


def money(cents: int | None, style: str = "exact", locale: str = "zh_CN") -> str:
    """Money on every screen, from integer cents (the one rule; live.js `liveroom.money` follows it for figures the
    browser adds up itself):
    - "exact": ¥1,234.50;
    - "whole": ¥1,234 (whole yuan, rounded down);
    - "short", for a wall read from afar: ¥12.3万 from ten thousand yuan in Chinese, ¥12.3k / ¥1.2M in English."""
    if cents is None:
        return "—"
    cents = int(cents)
    if style == "exact":
        sign = "-" if cents < 0 else ""
        whole, fraction = divmod(abs(cents), 100)
        return f"{sign}¥{whole:,}.{fraction:02d}"
    yuan_value = cents // 100
    if style == "short":
        if locale != "en" and abs(yuan_value) >= 10_000:
            return f"¥{yuan_value / 10_000:.1f}万"
        if locale == "en" and abs(cents) >= 100_000_000:
            return f"¥{cents / 100_000_000:.1f}M"
        if locale == "en" and abs(cents) >= 1_000_000:
            return f"¥{cents / 100_000:.1f}k"
    return f"¥{yuan_value:,}"


def yuan(cents: int | None) -> str:
    """Money as a person reads it: integer cents → "¥1,234.50" (no float ever touches the amount)."""
    return money(cents, "exact")


def adjustment_id() -> str:
    """A new replenishment's id: a retry after a lost answer sends the same one, so the units are added once."""
    return "host-" + secrets.token_hex(8)


def clock(value: str | datetime | None, fmt: str = "%H:%M") -> str:
    """A time on the screens: Beijing time, where every user of liveroom lives."""
    if value is None or value == "":
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return china_time(moment).strftime(fmt)


def number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def compact(value: int | None, locale: str = "zh_CN") -> str:
    """A large count for a wall: 100,000 → "10万" (zh) or "100k" (en); below that, as `number`."""
    if value is None:
        return "—"
    if locale != "en" and value >= 10_000:
        return f"{value / 10_000:.4g}万"
    if locale == "en" and value >= 10_000:
        return f"{value / 1_000:.4g}k"
    return number(value)


def nice_step(capacity: int | None) -> int:
    """How much one tap raises a carrier's daily capacity: about a fifth of it, on one significant digit (365 →
    70, 100,000 → 20,000), at least 10."""
    raw = max((capacity or 0) // 5, 10)
    magnitude = 10 ** (len(str(raw)) - 1)
    return raw // magnitude * magnitude
def duration(seconds: float | None, locale: str = "zh_CN") -> str:
    """A length of time as a person says it, in two units at most: "45 秒", "5 分", "1 小时 5 分", "2 天 3 小时";
    in English "45 s", "5 min", "1 h 5 min", "2 d 3 h". None → "—"."""
    if seconds is None:
        return "—"
    s = max(0, round(seconds))
    units = ("天", "小时", "分", "秒") if locale != "en" else ("d", "h", "min", "s")
    days, rest = divmod(s, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, units[0]), (hours, units[1]), (minutes, units[2]), (secs, units[3])]
    first = next((i for i, (value, _) in enumerate(parts) if value), 3)
    shown = [parts[first]] + ([parts[first + 1]] if first < 3 and parts[first + 1][0] else [])
    return " ".join(f"{value} {unit}" for value, unit in shown)


def dom_id(topic: str) -> str:
    """The element id a topic's fragment replaces: "room:r1:stock" → "t-room-r1-stock"."""
    return "t-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in topic)


@cache
def environment(locale: str) -> Environment:
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale}")
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(yuan=yuan, clock=clock, number=number, dom_id=dom_id, nice_step=nice_step,
                       compact=lambda value: compact(value, locale),
                       money=lambda cents, style="exact": money(cents, style, locale),
                       duration=lambda seconds: duration(seconds, locale))
    env.globals.update(locale=locale, lang="en" if locale == "en" else "zh-CN", adjustment_id=adjustment_id)
    return env


def render(template: str, locale: str, **context: Any) -> str:
    return environment(locale).get_template(template).render(**context)
