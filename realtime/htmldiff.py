"""What changed on an htmx screen, as out-of-band fragments: the frame that turns the last one sent into the new one.

A topic's HTML frame is a few top-level elements, each with an id that htmx swaps out of band (web/frames.py).
Inside them, every element whose id starts with `t-` is a piece the diff may send on its own: a row, a tile, a
figure. Given the frame a screen was last sent and the new one (both drawn by the same template), `diff` returns
the smallest message this module knows that brings the screen from one to the other:

- a piece whose markup did not change is not sent;
- a piece whose own markup (everything but its `t-` pieces) is unchanged is not sent either: only its changed
  pieces are, each as a fragment of its own (htmx's ws extension swaps every top-level element by id); when only
  its start tag changed (a rank in `data-rank`), it comes as an empty stub with `data-same="set"` and the
  attributes that changed (or `data-same="attrs"` and all of them, when one went), which live.js puts on the
  element on screen, keeping what is inside;
- a list (a piece whose `t-` pieces are its items, with only whitespace between them) that gained items at one end
  and lost some keeps its other items: the lost ones go with `hx-swap-oob="delete"`, the new ones arrive with
  `afterbegin:`/`beforeend:`, changed ones as fragments;
- a piece whose items moved (a leaderboard's rows overtaking each other) is sent whole, except its items that did
  not change or changed only inside their own pieces: those become empty stubs with `data-same` (live.js morphs
  the piece, idiomorph pairs children by id, and keeps the element already on screen for each stub), and the
  changes inside them follow as fragments;
- anything else is sent whole. When the frame's top-level elements differ, or the parts would weigh more than
  the whole, the whole frame is the message (None).

The parser knows only what the frame templates produce: well-formed HTML, void elements, comments, and script or
style elements whose text is skipped. Whatever it cannot pair up it leaves to the whole frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TAG = re.compile(r"<!--.*?-->|<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.S)
_ID = re.compile(r"""\sid=["'](t-[^"']*)["']""")
_ATTR = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']+))?""")
_VOID = frozenset(("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr"))
_RAW = frozenset(("script", "style", "textarea", "title"))


@dataclass(eq=False)
class Piece:
    """An element with a `t-` id: where its markup starts and ends, and its outermost `t-` pieces."""

    id: str
    tag: str
    start: int
    end: int = -1
    pieces: list[Piece] = field(default_factory=list)
    open_end: int = -1  # where its start tag ends


class Parsed:
    """A frame and its pieces, parsed once (the hub keeps it with the frame it was sent last)."""

    __slots__ = ("ok", "text", "top")

    def __init__(self, text: str) -> None:
        self.text = text
        self.top: list[Piece] = []
        self.ok = _parse(text, self.top)

    def markup(self, piece: Piece) -> str:
        return self.text[piece.start : piece.end]


def _parse(text: str, top: list[Piece]) -> bool:
    """Fill `top` with the top-level pieces; False when the markup does not nest (then nothing is diffed)."""
    open_tags: list[tuple[str, Piece | None]] = []  # every open element, and its piece when it has a t- id
    pieces: list[Piece] = []  # the open pieces
    pos = 0
    while True:
        match = _TAG.search(text, pos)
        if match is None:
            break
        pos = match.end()
        closing, name = match.group(1), match.group(2)
        if name is None:  # a comment
            continue
        tag = name.lower()
        if closing:
            while open_tags:
                open_tag, piece = open_tags.pop()
                if piece is not None:
                    piece.end = match.end()
                    pieces.pop()
                if open_tag == tag:
                    break
            else:
                return False
            continue
        attrs = match.group(3)
        if tag in _VOID or attrs.endswith("/"):
            found = _ID.search(attrs)
            if found:
                (pieces[-1].pieces if pieces else top).append(
                    Piece(found.group(1), tag, match.start(), match.end(), open_end=match.end()))
            continue
        found = _ID.search(attrs)
        piece = None
        if found:
            piece = Piece(found.group(1), tag, match.start(), open_end=match.end())
            (pieces[-1].pieces if pieces else top).append(piece)
            pieces.append(piece)
        open_tags.append((tag, piece))
        if tag in _RAW:  # its text is not markup: jump to its end tag
            end = text.find(f"</{tag}", pos)
            if end < 0:
                return False
            pos = end
    return not open_tags


def _segments(parsed: Parsed, piece: Piece) -> list[str]:
    """The piece's own markup, cut around its pieces: len(pieces) + 1 segments."""
    text, at, cuts = parsed.text, piece.start, []
    for inner in piece.pieces:
        cuts.append(text[at : inner.start])
        at = inner.end
    cuts.append(text[at : piece.end])
    return cuts


def diff(old: Parsed, new: Parsed) -> str | None:
    """The message that turns a screen showing `old` into one showing `new`: "" when nothing changed, None when
    only the whole new frame will do."""
    if not (old.ok and new.ok) or [p.id for p in old.top] != [p.id for p in new.top]:
        return None
    out: list[str] = []
    for before, after in zip(old.top, new.top, strict=True):
        _piece(old, before, new, after, out)
    message = "".join(out)
    return None if len(message) >= len(new.text) else message


def _piece(old: Parsed, before: Piece, new: Parsed, after: Piece, out: list[str]) -> None:
    if old.markup(before) == new.markup(after):
        return
    was, now = _segments(old, before), _segments(new, after)
    ids_before, ids_after = [p.id for p in before.pieces], [p.id for p in after.pieces]
    if ids_before == ids_after and was[1:] == now[1:] and _inside(old, before, was) == _inside(new, after, now):
        if was[0] != now[0]:  # its own attributes changed: they alone, what is inside stays
            out.append(_stub(new, after, was=(old, before)))
        for inner_before, inner_after in zip(before.pieces, after.pieces, strict=True):
            _piece(old, inner_before, new, inner_after, out)
        return
    if _items_only(was) and _items_only(now) and was[0] == now[0] and was[-1] == now[-1] and \
            _as_list(old, before, new, after, out):
        return
    _stubbed(old, before, new, after, out)


def _inside(parsed: Parsed, piece: Piece, segments: list[str]) -> str:
    """The first segment without the piece's start tag."""
    return segments[0][piece.open_end - piece.start :]


def _stub(parsed: Parsed, piece: Piece, *, was: tuple[Parsed, Piece] | None = None) -> str:
    """An empty stand-in for a piece already on screen: live.js keeps it. With `was` (the piece as last sent), its
    attributes changed: `data-same="set"` carries those that changed or came (live.js sets them), or, when one
    went, `data-same="attrs"` carries them all (live.js makes the element's attributes these)."""
    if was is None:
        return f'<{piece.tag} id="{piece.id}" data-same></{piece.tag}>'
    before, after = _attributes(was[0], was[1]), _attributes(parsed, piece)
    if set(before) <= set(after):
        changed = "".join(f" {text}" for name, text in after.items() if before.get(name) != text)
        return f'<{piece.tag} id="{piece.id}"{changed} data-same="set"></{piece.tag}>'
    tag = parsed.text[piece.start : piece.open_end].rstrip(">").rstrip("/").rstrip()
    return f'{tag} data-same="attrs"></{piece.tag}>'


def _attributes(parsed: Parsed, piece: Piece) -> dict[str, str]:
    """A piece's start tag's attributes: name -> the attribute as written (`name="value"`)."""
    start = parsed.text[piece.start + 1 + len(piece.tag) : piece.open_end - 1]
    return {m.group(1).lower(): m.group(0) for m in _ATTR.finditer(start)}


def _items_only(segments: list[str]) -> bool:
    return len(segments) > 2 and all(not s.strip() for s in segments[1:-1])


def _as_list(old: Parsed, before: Piece, new: Parsed, after: Piece, out: list[str]) -> bool:
    """Items dropped, items added at one end, the rest in the same order: delete, insert, and diff the rest."""
    olds = {p.id: p for p in before.pieces}
    news = {p.id for p in after.pieces}
    kept = [p for p in after.pieces if p.id in olds]
    if [p.id for p in before.pieces if p.id in news] != [p.id for p in kept]:
        return False  # items moved: not a list edit
    added = [p for p in after.pieces if p.id not in olds]
    count = len(added)
    if added and [p.id for p in after.pieces[:count]] == [p.id for p in added]:
        where = "afterbegin"
    elif added and [p.id for p in after.pieces[-count:]] == [p.id for p in added]:
        where = "beforeend"
    elif added:
        return False
    for gone in before.pieces:
        if gone.id not in news:
            out.append(f'<{gone.tag} id="{gone.id}" hx-swap-oob="delete"></{gone.tag}>')
    if added:
        out.append(f'<{after.tag} hx-swap-oob="{where}:#{after.id}">')
        out.extend(new.markup(p) for p in added)
        out.append(f"</{after.tag}>")
    for inner in kept:
        _piece(old, olds[inner.id], new, inner, out)
    return True


def _stubbed(old: Parsed, before: Piece, new: Parsed, after: Piece, out: list[str]) -> None:
    """The piece whole, but each of its pieces that did not change, or changed only inside its own pieces, is an
    empty stub (live.js keeps the element on screen); the changes inside those follow as fragments of their own."""
    olds = {p.id: p for p in before.pieces}
    text, at = new.text, after.start
    parts: list[str] = []
    inside: list[str] = []
    for inner in after.pieces:
        same = olds.get(inner.id)
        if same is None or inner.tag in _VOID:
            continue
        stub = _stub(new, inner)
        if old.markup(same) != new.markup(inner):
            was, now = _segments(old, same), _segments(new, inner)
            if [p.id for p in same.pieces] != [p.id for p in inner.pieces] or was[1:] != now[1:] or \
                    _inside(old, same, was) != _inside(new, inner, now):
                continue
            if was[0] != now[0]:
                stub = _stub(new, inner, was=(old, same))
            for pair in zip(same.pieces, inner.pieces, strict=True):
                _piece(old, pair[0], new, pair[1], inside)
        parts.append(text[at : inner.start])
        parts.append(stub)
        at = inner.end
    parts.append(text[at : after.end])
    out.append("".join(parts) if len(parts) > 1 else new.markup(after))
    out.extend(inside)


class View:
    """One rendering of a topic's view in one format: what screens showing it are compared against. `key` is the
    content (the HTML frame; the JSON of the data, without the seq), `frame` the whole frame to send."""

    __slots__ = ("_parsed", "frame", "key")

    def __init__(self, key: str | bytes, frame: str) -> None:
        self.key = key
        self.frame = frame
        self._parsed: Parsed | None = None

    def parsed(self) -> Parsed:
        if self._parsed is None:
            self._parsed = Parsed(self.frame)
        return self._parsed
