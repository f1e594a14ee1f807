"""Languages of the screens: Chinese by default, English with ?lang=en, through Babel message catalogs.

Catalogs are the .po files under web/locale/<locale>/LC_MESSAGES/ (one per screen, merged), read at start: no
compile step. Template strings are English message ids; the zh_CN catalog holds the Chinese every screen shows
by default.
"""

from __future__ import annotations

from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT = "zh_CN"
LOCALES = ("zh_CN", "en")


def locale_of(lang: str | None) -> str:
    """`?lang=en`, `en-US`, `zh-CN`, … → one of LOCALES (Chinese unless English is asked for)."""
    return "en" if lang and lang.replace("-", "_").lower().startswith("en") else DEFAULT


def catalog(locale: str) -> Catalog:
    merged = Catalog(locale=locale)
    for po in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as handle:
            for message in read_po(handle, locale=locale):
                if message.id and message.string:
                    merged.add(message.id, message.string)
    return merged


@cache
def translations(locale: str) -> Translations:
    buffer = BytesIO()
    write_mo(buffer, catalog(locale))
    buffer.seek(0)
    return Translations(buffer)
