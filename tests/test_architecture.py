"""The domain stays pure: it imports only the standard library and itself (DESIGN.md, 'Dependencies')."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parent.parent / "domain"
# asyncio is in the standard library but the domain has no event loop: rules take time as an argument.
FORBIDDEN_STDLIB = {
    "asyncio",
    "socket",
    "sqlite3",
    "subprocess",
    "threading",
    "multiprocessing",
    "urllib",
    "http",
}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


DESIGNED_MODULES = (
    "ordering",
    "address",
    "attribution",
    "stock",
    "routing",
    "commission",
    "tracking",
    "screening",
    "forecast",
    "events",
    "geo",
    "geo_data",
    "carrier_codes",
    "stock_alerts",
    "deals",
    "china_time",
    "times",
)


def test_every_designed_domain_module_exists() -> None:
    missing = [name for name in DESIGNED_MODULES if not (DOMAIN / f"{name}.py").is_file()]
    assert missing == []


def test_domain_imports_only_standard_library_and_itself() -> None:
    offenders = {}
    for path in sorted(DOMAIN.rglob("*.py")):
        outside = {
            root
            for root in _imported_roots(path)
            if root != "domain" and (root not in sys.stdlib_module_names or root in FORBIDDEN_STDLIB)
        }
        if outside:
            offenders[path.name] = sorted(outside)
    assert offenders == {}


def test_architecture_check_catches_a_third_party_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlalchemy\nfrom starlette.routing import Route\nfrom domain import stock\n")
    assert _imported_roots(bad) - {"domain"} == {"sqlalchemy", "starlette"}


# --- one direction of imports (DESIGN.md, "Layout") ----------------------------------------------------------------

ROOT = DOMAIN.parent
# What each package of ours may import of ours. Dependencies point down: the composition root (`liveroom`) wires
# server, realtime and web; server and realtime use store and domain and never each other; store uses domain;
# web renders and never reaches the database; the simulator is a client that talks HTTP only.
# telemetry (metrics) is a leaf beside domain: the layers that do the work count into it, it imports nothing of ours.
OURS = {
    "domain",
    "store",
    "server",
    "realtime",
    "web",
    "liveroom",
    "simulator",
    "migrations",
    "bench",
    "telemetry",
}
MAY_IMPORT = {
    "domain": {"domain"},
    "telemetry": {"telemetry"},
    "store": {"store", "domain", "telemetry"},
    "server": {"server", "store", "domain", "telemetry"},
    "realtime": {"realtime", "store", "domain", "telemetry"},
    "web": {"web", "domain", "telemetry"},
    "simulator": {"simulator"},
    "migrations": {"migrations", "store"},
    "liveroom": OURS - {"bench", "migrations"},
    "bench": OURS - {"migrations"},  # measures the product from outside and beside it
}


def _ours_imported(path: Path) -> dict[str, int]:
    """Each package of ours that `path` imports (absolute imports), with the first line that does."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            root = name.split(".")[0]
            if root in OURS:
                found.setdefault(root, node.lineno)
    return found


def _offenders(root: Path) -> list[str]:
    offenders = []
    for package, allowed in sorted(MAY_IMPORT.items()):
        for path in sorted((root / package).rglob("*.py")):
            for imported, line in sorted(_ours_imported(path).items()):
                if imported not in allowed:
                    offenders.append(f"{path.relative_to(root)}:{line} imports {imported}")
    return offenders


def test_every_import_between_our_packages_points_down() -> None:
    assert _offenders(ROOT) == []


def test_the_import_contract_catches_an_import_that_points_up_or_sideways(tmp_path: Path) -> None:
    for package, source in {
        "realtime": "from server.services import orders\n",
        "server": "import realtime.hub\n",
        "store": "from server.settings import Settings\n",
        "web": "from store import models\n",
        "simulator": "from domain import geo\n",
        "domain": "from store.uow import Writer\n",
    }.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "bad.py").write_text(source)
    assert len(_offenders(tmp_path)) == 6


def test_every_package_of_ours_is_under_the_import_contract() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} - {"tests"}
    assert packages - set(MAY_IMPORT) == set()


MAX_MODULE_LINES = 500


def test_no_module_of_ours_outside_tests_is_over_500_lines() -> None:
    """A module that grows past 500 lines is doing more than one job: split it (issue 11)."""
    too_long = {
        str(path.relative_to(ROOT)): lines
        for package in OURS - {"tests"}
        for path in (ROOT / package).rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}
