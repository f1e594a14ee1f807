"""The simulator's progress screen (rich) and its closing summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from simulator.carriers import BEIJING
from simulator.stats import PARCEL_STATES, Stats

PARCEL_LABELS = {
    "created": "待揽收",
    "collected": "已揽收",
    "in_transit": "运输中",
    "out_for_delivery": "派送中",
    "problem": "问题件",
    "signed": "已签收",
    "returned": "已退回",
}


def _yuan(cents: int) -> str:
    return f"¥{cents / 100:,.2f}"


def _grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column(no_wrap=True)
    return grid


def progress(
    stats: Stats,
    url: str,
    room: str,
    elapsed: float,
    sim_now: datetime,
    now: float,
    in_flight: int,
    speed: float,
) -> RenderableType:
    orders = _grid()
    done = min(stats.placed, stats.target)
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=max(stats.target, 1), completed=done, width=50),
        Text(f"{100 * done / max(stats.target, 1):.0f}%"),
    )
    orders.add_row("progress", bar)
    orders.add_row("phase", Text(stats.phase, style="bold magenta"))
    orders.add_row(
        "orders", f"{stats.placed:,} placed of {stats.target:,}  ({stats.per_minute(now):,.0f}/min)"
    )
    orders.add_row(
        "answers",
        f"{stats.accepted:,} accepted · {stats.held:,} held · {stats.sold_out:,} sold out "
        f"({stats.substituted:,} took another SKU)",
    )
    orders.add_row(
        "follow-up",
        f"{stats.verified:,} verified · {stats.presale:,} presale "
        f"({stats.backorders_filled:,} filled) · {stats.cancelled:,} cancelled",
    )
    orders.add_row(
        "refunds",
        f"{stats.refunds_opened:,} asked · {stats.refunds_approved:,} approved · "
        f"{stats.refunds_rejected:,} rejected",
    )
    orders.add_row("GMV", _yuan(stats.gmv_cents))
    orders.add_row("visits", f"{stats.visits:,} ({stats.bindings.get('new', 0):,} new bindings)")

    road = _grid()
    pushes = stats.pushes
    road.add_row(
        "pushes",
        f"快递鸟 {pushes.get('kdniao', 0):,} · 快递100 {pushes.get('kuaidi100', 0):,} · "
        f"API {pushes.get('api', 0):,}  ({stats.push_lines:,} updates, {stats.push_lag:.1f}s behind)",
    )
    if stats.gateway_waybills or stats.awaiting_waybill:
        road.add_row(
            "waybills",
            f"{stats.gateway_waybills:,} booked at the carrier gateway · "
            f"{stats.awaiting_waybill:,} awaiting (等待面单) · carrier outages {stats.gateway_outages}",
        )
    parcels = " · ".join(f"{PARCEL_LABELS[s]} {stats.parcels.get(s, 0):,}" for s in PARCEL_STATES)
    road.add_row("parcels", parcels)
    road.add_row("stock", f"{stats.replenishments:,} replenishments · pulses {stats.pulses}")
    if stats.outage:
        outage = Text(stats.outage, style="bold yellow")
    elif stats.outages:
        outage = Text(f"{stats.outages} over · {stats.rerouted} orders re-routed")
    else:
        outage = Text("none so far")
    road.add_row("outage", outage)
    road.add_row(
        "clock",
        f"{elapsed:,.0f}s wall · carriers' clock {sim_now.astimezone(BEIJING):%m-%d %H:%M} (×{speed:g})",
    )
    road.add_row("in flight", f"{in_flight} requests")
    errors = Text(f"{stats.errors:,}", style="bold red" if stats.errors else "green")
    if stats.last_error:
        errors.append(f"  last: {stats.last_error}", style="red")
    road.add_row("errors", errors)

    after = _grid()
    for label, text in promo_lines(stats):
        after.add_row(label, text)
    body = Group(orders, growth_grid(stats), road, after)
    return Panel(body, title=f"liveroom simulate · {room} · {url}", border_style="cyan")


def growth_lines(stats: Stats) -> list[tuple[str, str]]:
    """The growth figures: viewers and their heartbeats, recruits, the leaders' work, coupons."""
    lines = [
        (
            "viewers",
            f"{stats.viewers:,} watching or watched ({stats.left_early:,} left early) · "
            f"{stats.heartbeats:,} heartbeats · {stats.watched:,} watched",
        ),
        (
            "leaders",
            f"{stats.recruits:,} recruits · {stats.prospects_tagged:,} prospects tagged · "
            f"{stats.questions:,} questions ({stats.answered_questions:,} answered)",
        ),
        ("coupons", f"{stats.coupon_uses:,} used · {stats.coupon_refusals:,} refused (paid without)"),
        ("预告场", f"点击 {stats.upcoming_clicks:,} · 开播后进场 {stats.upcoming_entered:,}"),
    ]
    if stats.unavailable:
        missing = ", ".join(f"{k} ({v})" for k, v in sorted(stats.unavailable.items()))
        lines.append(("404", f"not on this server: {missing}"))
    return lines


def promo_lines(stats: Stats) -> list[tuple[str, str]]:
    """After the pulse: the carriers' use of their capacity today, delay notices, refunds and their reasons."""
    lines = []
    if stats.carrier_use:
        use = []
        for carrier, (used, capacity) in sorted(stats.carrier_use.items()):
            full = " full" if carrier in stats.capacity_full else ""
            use.append(f"{carrier} {used:,}/{capacity:,}{full}" if capacity is not None else f"{carrier} {used:,}")
        lines.append(("carriers", " · ".join(use)))
    for carrier, phase in sorted(stats.capacity_full.items()):
        lines.append(("capacity", f"{carrier} ran out during: {phase}"))
    lines.append(
        (
            "notices",
            f"{stats.notices_posted:,} posted ({stats.notice_orders:,} orders reached) · "
            f"{stats.notices_withdrawn:,} withdrawn",
        )
    )
    reasons = " · ".join(f"{r} {n:,}" for r, n in stats.refund_reasons.most_common(5))
    late = f"{stats.refunds_late:,} days after the parcel"
    lines.append(("refunds after", f"{late} · all by reason: {reasons}" if reasons else late))
    return lines


def growth_grid(stats: Stats) -> Table:
    grid = _grid()
    for label, text in growth_lines(stats):
        grid.add_row(label, Text(text, style="yellow") if label == "404" else text)
    return grid


def summary(
    stats: Stats, board: list[dict[str, Any]], elapsed: float, ended: str, room: str
) -> RenderableType:
    table = Table(title=f"session summary · room {room} · {ended} after {elapsed:,.0f}s", show_header=False)
    table.add_column(style="bold cyan")
    table.add_column()
    table.add_row(
        "orders",
        f"{stats.placed:,} placed: {stats.accepted:,} accepted, {stats.held:,} held "
        f"({stats.verified:,} verified), {stats.sold_out:,} sold out ({stats.substituted:,} took another SKU)",
    )
    table.add_row("presale / cancelled", f"{stats.presale:,} / {stats.cancelled:,}")
    table.add_row("refunds", f"{stats.refunds_opened:,} asked, {stats.refunds_approved:,} approved")
    table.add_row("GMV", _yuan(stats.gmv_cents))
    table.add_row("visits", f"{stats.visits:,}")
    table.add_row("carrier pushes", ", ".join(f"{k} {v:,}" for k, v in sorted(stats.pushes.items())) or "0")
    table.add_row(
        "parcels", " · ".join(f"{PARCEL_LABELS[s]} {stats.parcels.get(s, 0):,}" for s in PARCEL_STATES)
    )
    table.add_row("outages", f"{stats.outages} ({stats.rerouted} orders re-routed)")
    table.add_row("replenishments", f"{stats.replenishments}")
    for label, text in (*growth_lines(stats), *promo_lines(stats)):
        table.add_row(label, text)
    table.add_row("errors", f"{stats.errors}" + (f" (last: {stats.last_error})" if stats.last_error else ""))
    if board:
        leaders = Table(title="top leaders by GMV", show_edge=False)
        for column in ("#", "leader", "GMV", "orders", "invites"):
            leaders.add_column(column)
        for entry in board:
            leaders.add_row(
                str(entry["rank"]),
                f"{entry['name']} ({entry['leader']})",
                _yuan(int(entry["gmv_cents"])),
                str(entry["orders"]),
                str(entry["invites"]),
            )
        return Group(table, leaders)
    return table


def line(stats: Stats, elapsed: float, now: float) -> str:
    """One line of progress for logs (a console that is not a terminal)."""
    pushes = sum(stats.pushes.values())
    return (
        f"[{elapsed:6.0f}s] {stats.phase} · orders {stats.placed}/{stats.target} ({stats.per_minute(now):.0f}/min)"
        f" · accepted {stats.accepted} · held {stats.held} · sold out {stats.sold_out} · visits {stats.visits}"
        f" · pushes {pushes} · signed {stats.parcels.get('signed', 0)} · heartbeats {stats.heartbeats}"
        f" · watched {stats.watched} · recruits {stats.recruits} · questions {stats.questions}"
        f" · coupons {stats.coupon_uses} · 预告场 点击 {stats.upcoming_clicks} · notices {stats.notices_posted}"
        f" · refunds after {stats.refunds_late} · errors {stats.errors}"
    )
