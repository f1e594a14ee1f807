"""What the review page picks from the review's answer for people to read (web/review_view.py, web/render.py): one
row per SKU with its warehouses under it, the longest-to-fix exceptions, the leaders with the most refunds, and
durations said in two units at most."""

from __future__ import annotations

from typing import Any

from web import review_view
from web.render import duration

NAMES: dict[str, Any] = {
    "room": "双十二预热",
    "skus": {"tea": "明前龙井"},
    "warehouses": {"SH": "上海仓"},
    "leaders": {"l1": "王团长"},
}


def stock_row(sku: str, warehouse: str | None, **units: Any) -> dict[str, Any]:
    row = dict.fromkeys(review_view.STOCK_UNITS, 0) | {
        "sku": sku,
        "warehouse": warehouse,
        "sold_out_at": None,
    }
    row.update(units)
    row["forecast_error_units"] = row["forecast_units"] - row["sold_units"]
    return row


def test_stock_is_one_row_per_sku_with_only_the_warehouses_that_had_anything() -> None:
    rows = [
        stock_row("tea", "BJ"),  # nothing forecast, stocked or sold: hidden
        stock_row(
            "tea",
            "SH",
            forecast_units=10,
            stocked_units=20,
            sold_units=15,
            unsold_units=5,
            sold_out_at="2026-12-12T14:00:00+00:00",
        ),
        stock_row("tea", "GZ", forecast_units=5, sold_units=2, sold_out_at="2026-12-12T13:00:00+00:00"),
        stock_row("tea", None, presale_units=3),  # presale not yet allocated: shown
    ]
    [tea] = review_view.stock_by_sku(rows, NAMES)
    assert (tea["name"], tea["forecast_units"], tea["stocked_units"], tea["sold_units"]) == (
        "明前龙井",
        15,
        20,
        17,
    )
    assert tea["forecast_error_units"] == -2 and tea["presale_units"] == 3
    assert tea["sold_out_at"] == "2026-12-12T13:00:00+00:00"  # the first warehouse to sell out
    assert [w["warehouse"] for w in tea["warehouses"]] == ["SH", "GZ", None]
    assert tea["warehouses"][0]["name"] == "上海仓"


def test_exceptions_show_the_ten_longest_to_fix_open_ones_first_and_count_the_rest() -> None:
    held = [
        {"order": f"o{i}", "leader": "l1", "fix_s": i * 60, "held_at": None, "verified_at": None}
        for i in range(1, 15)
    ]
    held.append({"order": "open", "leader": None, "fix_s": None, "held_at": None, "verified_at": None})
    e = {"held": {"list": held}, "parcels": {"list": []}, "outages": {"list": []}}
    [kind] = review_view.exceptions(e, NAMES)
    assert kind["kind"] == "held" and kind["more"] == 5
    assert [r["order"] for r in kind["rows"]][:3] == ["open", "o14", "o13"]
    assert len(kind["rows"]) == review_view.TOP and kind["rows"][1]["leader_name"] == "王团长"


def test_leaders_are_ranked_by_refunds_then_orders_and_cut_at_ten() -> None:
    rows = [{"leader": f"l{i}", "orders": i, "refunded": 0} for i in range(1, 13)]
    rows.append({"leader": None, "orders": 1, "refunded": 1})
    top = review_view.top_leaders(rows, NAMES)
    assert [r["leader"] for r in top["rows"]][:3] == [None, "l12", "l11"]
    assert len(top["rows"]) == 10 and top["more"] == 3


def test_durations_read_as_people_say_them() -> None:
    assert [duration(s) for s in (None, 45, 300, 3_900, 90_000)] == [
        "—",
        "45 秒",
        "5 分",
        "1 小时 5 分",
        "1 天 1 小时",
    ]
    assert [duration(s, "en") for s in (45, 3_900, 90_000)] == ["45 s", "1 h 5 min", "1 d 1 h"]
