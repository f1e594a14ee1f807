"""The Grafana dashboard in deploy/ is built on the metrics `GET /metrics` really serves (issue 15): every series a
panel queries is one telemetry/metrics.py defines, and every metric defined is on some panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY, Metric

import telemetry.metrics  # noqa: F401 (defines the metrics on the default registry)

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "liveroom.json"
SERIES = re.compile(r"\bliveroom_[a-z_]+")


def _queried() -> set[str]:
    panels = json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    exprs = [target.get("expr", "") for panel in panels for target in panel.get("targets", [])]
    return {name for expr in exprs for name in SERIES.findall(expr)}


def _served() -> dict[str, set[str]]:
    """Each liveroom metric family and the series names it is exposed as (counters end in _total, histograms add
    _bucket, _count and _sum)."""
    families: dict[str, set[str]] = {}
    for family in REGISTRY.collect():
        if family.name.startswith("liveroom_"):
            families[family.name] = _series_names(family)
    return families


def _series_names(family: Metric) -> set[str]:
    if family.type == "counter":
        return {f"{family.name}_total"}
    if family.type == "histogram":
        return {f"{family.name}{suffix}" for suffix in ("", "_bucket", "_count", "_sum")}
    return {family.name}


def test_every_series_the_dashboard_queries_is_one_the_server_serves() -> None:
    served, queried = set().union(*_served().values()), _queried()
    assert len(queried) >= 10  # the panels query the metrics, not nothing
    assert queried - served == set()


def test_every_metric_the_server_serves_is_on_the_dashboard() -> None:
    queried = _queried()
    assert len(_served()) >= 12  # the dozen families
    missing = [name for name, series in _served().items() if not series & queried]
    assert missing == []
