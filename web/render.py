"""Jinja2 environments (one per language) and the filters every screen uses."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from domain.china_time import china_time
from web.i18n import LOCALES, translations

TEMPLATES = Path(__file__).resolve().parent / "templates"


def yuan(cents: int | None) -> str:
    """Money as a person reads it: integer cents → "¥1,234.50" (no float ever touches the amount)."""
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(int(cents)), 100)
    return f"{sign}¥{whole:,}.{fraction:02d}"


def yuan_short(cents: int | None) -> str:
    """Big figures for a wall screen: ¥12.3万 in Chinese style above ten thousand yuan."""
    if cents is None:
        return "—"
    yuan_value = int(cents) // 100
    if abs(yuan_value) >= 10_000:
        return f"¥{yuan_value / 10_000:.1f}万"
    return f"¥{yuan_value:,}"


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
    env.filters.update(yuan=yuan, yuan_short=yuan_short, clock=clock, number=number, dom_id=dom_id)
    env.globals.update(locale=locale, lang="en" if locale == "en" else "zh-CN")
    return env


def render(template: str, locale: str, **context: Any) -> str:
    return environment(locale).get_template(template).render(**context)
