"""HTML frames for htmx screens: a topic's view rendered as out-of-band fragments that replace elements by id.

The same fragment templates render inside the page on first load, so a frame and the page never disagree and
nothing flickers: htmx swaps an element for one drawn by the same template from newer data.
"""

from __future__ import annotations

import re
from typing import Any

from web.i18n import locale_of
from web.render import dom_id, render


def family(topic: str) -> str:
    """room:r:stock → stock, room:r:board → board, room:r:feed → feed, leader:x → leader, ops, order:x → order."""
    parts = topic.split(":")
    return parts[2] if parts[0] == "room" else parts[0]


# A line's indentation: a screen on a data plan downloads it for nothing (a textarea's text is left as typed).
_INDENT = re.compile(r"(<textarea\b.*?</textarea>)|\n\s+", re.S)


def render_frame(topic: str, kind: str, data: dict[str, Any], lang: str) -> str:
    html = render(f"frames/{family(topic)}.html", locale_of(lang), topic=topic, kind=kind, data=data,
                  id=dom_id(topic), oob=True)
    return _INDENT.sub(lambda m: m.group(1) or "\n", html)
