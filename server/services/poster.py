"""The share kit's poster: a 750×1200 PNG a leader saves on a phone and posts — the room's title and start time,
who invites, and a QR code of the leader's live share link (segno draws the code, Pillow the picture).

Chinese needs a CJK font: WenQuanYi Micro Hei (Debian's fonts-wqy-microhei, which `make test` installs as root) when
it is there, Pillow's own font otherwise (its Latin letters only). Drawing is CPU work (~0.2 s): callers run it in a
thread.
"""

from __future__ import annotations

import io
import re
from functools import cache, lru_cache
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont, ImageOps

from domain.share_kit import PosterText

WIDTH, HEIGHT = 750, 1200
MARGIN = 48
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
TOP, BOTTOM = "#ff7a45", "#e8453c"  # the leader screen's own gradient (web/static/css/leader.css)
INK, MUTED, ACCENT = "#1d2330", "#687083", "#e8453c"
QR_SIDE = 460  # pixels, at most

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@cache
def font(size: int) -> Font:
    if CJK_FONT.is_file():
        return ImageFont.truetype(str(CJK_FONT), size)
    return ImageFont.load_default(size)


_TOKEN = re.compile(r"[A-Za-z0-9'’\-.,:;!?()\"/&]+\s*|\s+|.", re.S)


def wrap(text: str, face: Font, width: int, max_lines: int) -> list[str]:
    """Lines of `text` no wider than `width`: Chinese breaks between characters, English between words; the last
    line ends with "…" when the text is longer than `max_lines`."""
    lines: list[str] = []
    line = ""
    for token in _TOKEN.findall(text):
        if face.getlength(line + token.rstrip()) <= width or not line:
            line += token
            continue
        lines.append(line.rstrip())
        line = token.lstrip()
    if line.strip():
        lines.append(line.rstrip())
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and face.getlength(last + "…") > width:
            last = last[:-1]
        lines = [*lines[: max_lines - 1], last.rstrip() + "…"]
    return lines


def _height(face: Font) -> int:
    box = face.getbbox("国Ag")
    return int(box[3] - box[1])


def _centred(draw: ImageDraw.ImageDraw, y: int, text: str, face: Font, fill: str) -> None:
    draw.text((WIDTH // 2, y), text, font=face, fill=fill, anchor="mt")


def _qr(url: str, side: int) -> Image.Image:
    code = segno.make(url, error="m", micro=False)
    rows = [list(row) for row in code.matrix]
    module = max(1, side // len(rows))
    image = Image.new("L", (module * len(rows),) * 2, 255)
    draw = ImageDraw.Draw(image)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                draw.rectangle((x * module, y * module, (x + 1) * module - 1, (y + 1) * module - 1), fill=0)
    return image


@lru_cache(maxsize=64)
def render(text: PosterText) -> bytes:
    """The poster as PNG bytes (the same lines draw the same picture: the last few are kept)."""
    gradient = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    image = ImageOps.colorize(gradient, TOP, BOTTOM).convert("RGB")
    glow = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    shapes = ImageDraw.Draw(glow)
    shapes.ellipse((WIDTH - 260, -180, WIDTH + 180, 260), fill=(255, 255, 255, 34))
    shapes.ellipse((-160, 300, 160, 620), fill=(255, 255, 255, 22))
    image.paste(glow, (0, 0), glow)
    draw = ImageDraw.Draw(image)

    y = MARGIN
    draw.text((MARGIN, y), "liveroom", font=font(26), fill="#ffffff")
    badge = font(24)
    width = int(badge.getlength(text.badge))
    draw.rounded_rectangle((WIDTH - MARGIN - width - 32, y - 6, WIDTH - MARGIN, y + 36), radius=21,
                           fill="#ffffff")
    draw.text((WIDTH - MARGIN - 16, y + 15), text.badge, font=badge, fill=ACCENT, anchor="rm")

    y += 86
    title = font(58)
    for line in wrap(text.title, title, WIDTH - 2 * MARGIN, 3):
        draw.text((MARGIN, y), line, font=title, fill="#ffffff", stroke_width=1, stroke_fill="#ffffff")
        y += _height(title) + 22
    y += 8
    when = font(32)
    width = int(when.getlength(text.when))
    draw.rounded_rectangle((MARGIN, y, MARGIN + width + 36, y + 58), radius=29, fill=(255, 255, 255))
    draw.text((MARGIN + 18, y + 29), text.when, font=when, fill=ACCENT, anchor="lm")
    y += 58 + 40

    card_top, card_bottom = y, HEIGHT - MARGIN
    draw.rounded_rectangle((MARGIN, card_top, WIDTH - MARGIN, card_bottom), radius=28, fill="#ffffff")
    inner = WIDTH - 2 * MARGIN - 64
    who, call, small = font(32), font(28), font(20)
    who_lines, url_lines = wrap(text.who, who, inner, 2), wrap(text.url, small, inner, 2)
    words = (len(who_lines) * (_height(who) + 14) + 18 + 24 + _height(call) + 18
             + len(url_lines) * (_height(small) + 8))
    code = _qr(text.url, min(QR_SIDE, card_bottom - card_top - 80 - words))
    y = card_top + (card_bottom - card_top - words - code.height) // 2
    for line in who_lines:
        _centred(draw, y, line, who, INK)
        y += _height(who) + 14
    y += 18
    image.paste(code, ((WIDTH - code.width) // 2, y))
    y += code.height + 24
    _centred(draw, y, text.call, call, ACCENT)
    y += _height(call) + 18
    for line in url_lines:
        _centred(draw, y, line, small, MUTED)
        y += _height(small) + 8

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
