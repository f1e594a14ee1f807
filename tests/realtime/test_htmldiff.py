"""A screen is sent what changed on it: the pieces (`t-` ids) of an HTML frame that differ from the last one sent."""

from __future__ import annotations

from realtime.htmldiff import Parsed, diff
from web.frames import render_frame


def board(rows: list[tuple[str, int, int]], leaders: int | None = None) -> str:
    """A leaderboard frame as the hub renders it: rows of (leader, GMV cents, orders), best first."""
    entries = [{"rank": rank, "leader": leader, "name": leader.upper(), "gmv_cents": gmv, "orders": orders,
                "invites": 0} for rank, (leader, gmv, orders) in enumerate(rows, start=1)]
    data = {"room": "r1", "title": "Room", "by": "gmv", "leaders": leaders or len(rows), "entries": entries,
            "inviters": []}
    return render_frame("room:r1:board", "snapshot", data, "en")


def changes(old: str, new: str) -> str | None:
    return diff(Parsed(old), Parsed(new))


def test_a_frame_that_shows_the_same_sends_nothing() -> None:
    rows = [("a", 50_000, 5), ("b", 30_000, 3)]
    assert changes(board(rows), board(rows)) == ""


def test_a_row_fragment_replaces_only_its_row_figures() -> None:
    before = board([("a", 50_000, 5), ("b", 30_000, 3), ("c", 10_000, 1)])
    after = board([("a", 50_000, 5), ("b", 32_800, 4), ("c", 10_000, 1)])
    sent = changes(before, after)
    assert sent is not None
    assert 'id="t-b-r1.b.g"' in sent and "¥328" in sent and "4 orders" in sent
    assert "t-b-r1.a" not in sent and "t-b-r1.c" not in sent  # the other rows stay
    assert len(sent) < len(after) / 5


def test_rows_that_change_places_come_back_as_the_list_with_the_unchanged_rows_left_as_they_are() -> None:
    before = board([("a", 50_000, 5), ("b", 30_000, 3), ("c", 10_000, 1)])
    after = board([("a", 50_000, 5), ("c", 40_000, 2), ("b", 30_000, 3)])
    sent = changes(before, after)
    assert sent is not None
    assert '<li id="t-b-r1.a" data-same></li>' in sent  # on screen already: kept, moved if need be
    # The rows whose rank moved: the attributes that changed on a stub, then their changed figures alone.
    assert '<li id="t-b-r1.c" class="board-row podium rank-2" data-rank="2" data-same="set"></li>' in sent
    assert '<li id="t-b-r1.b" class="board-row podium rank-3" data-rank="3" data-same="set"></li>' in sent
    assert sent.index("t-b-r1.c") < sent.index("t-b-r1.b")  # in their new order
    assert '<span id="t-b-r1.c.g" class="board-gmv num">¥400</span>' in sent and 'id="t-b-r1.c.r"' in sent
    assert "t-b-r1.b.g" not in sent  # b only moved down: its figures are as they were


def test_new_items_at_the_top_of_a_list_are_inserted_and_the_dropped_ones_deleted() -> None:
    def orders(ids: list[str]) -> str:
        items = "".join(f'<li id="t-x-{i}">order {i}</li>' for i in ids)
        return f'<section id="t-x" hx-swap-oob="true"><h2>Mine</h2><ol id="t-x-list">{items}</ol></section>'

    sent = changes(orders(["3", "2", "1"]), orders(["5", "4", "3", "2"]))
    assert sent == ('<li id="t-x-1" hx-swap-oob="delete"></li><ol hx-swap-oob="afterbegin:#t-x-list">'
                    '<li id="t-x-5">order 5</li><li id="t-x-4">order 4</li></ol>')


def test_a_change_outside_any_piece_sends_the_piece_around_it_and_other_top_pieces_stay() -> None:
    before = '<div id="t-a" hx-swap-oob="true">one <b>1</b></div><div id="t-b" hx-swap-oob="true">x</div>'
    after = '<div id="t-a" hx-swap-oob="true">one <b>2</b></div><div id="t-b" hx-swap-oob="true">x</div>'
    assert changes(before, after) == '<div id="t-a" hx-swap-oob="true">one <b>2</b></div>'


def test_a_frame_whose_pieces_cannot_be_paired_is_sent_whole() -> None:
    assert changes('<div id="t-a">1</div>', '<div id="t-b">1</div>') is None  # other top-level pieces
    assert changes('<div id="t-a"><span>1</div>', '<div id="t-a"><span>2</div>') is None  # markup that does not nest


def test_a_real_stock_frame_after_a_sale_carries_the_sold_figures_not_the_tiles() -> None:
    def stock(units: int) -> str:
        sku = {"sku": "tea", "name": "Tea", "price_cents": 12_800, "level": "ok", "available": units,
               "low_stock_units": 10, "rate_per_min": 1.0, "minutes_to_sellout": units, "presale": False,
               "warehouses": [{"warehouse": "SH", "name": "Shanghai", "available": units, "active": True},
                              {"warehouse": "GZ", "name": "Guangzhou", "available": 500, "active": True}]}
        data = {"room": "r1", "title": "Room", "gmv_cents": (1000 - units) * 12_800, "orders": 1000 - units,
                "skus": [sku], "series": [{"minute": "12:00", "units": 1000 - units}]}
        return render_frame("room:r1:stock", "snapshot", data, "en")

    before, after = stock(900), stock(899)
    sent = changes(before, after)
    assert sent is not None and len(sent) < len(after) / 3
    assert 'id="t-s-r1.tea.units"' in sent and 'id="t-s-r1.tea.SH.u"' in sent
    assert "t-s-r1.tea.GZ.u" not in sent  # Guangzhou sold nothing
    assert "replenish" not in sent  # the tile's forms are never resent
