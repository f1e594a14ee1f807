"""The simulator is a client of liveroom: it talks to the server only over HTTP, so it imports nothing of ours,
only itself, httpx, rich and the standard library (README, Layout)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SIMULATOR = Path(__file__).resolve().parent.parent / "simulator"
ALLOWED = {"simulator", "httpx", "rich"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_simulator_imports_only_itself_httpx_rich_and_the_standard_library() -> None:
    modules = sorted(SIMULATOR.rglob("*.py"))
    assert len(modules) > 5
    offenders = {
        path.name: sorted(outside)
        for path in modules
        if (
            outside := {
                r for r in _imported_roots(path) if r not in ALLOWED and r not in sys.stdlib_module_names
            }
        )
    }
    assert offenders == {}


def test_the_import_check_sees_our_packages(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from domain import geo\nimport server.api\nfrom simulator.client import Api\nimport httpx\n"
    )
    assert _imported_roots(bad) - ALLOWED == {"domain", "server"}
