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
