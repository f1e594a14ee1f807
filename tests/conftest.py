from __future__ import annotations

import sys
from pathlib import Path

# Shared test helpers (seed, realparts, live) are imported by plain name from every test folder. Only their own
# folder goes on the path: tests/ itself holds a `server` folder that must never shadow the real package.
SUPPORT = Path(__file__).resolve().parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))
