from __future__ import annotations

import sys
from pathlib import Path

# Test helpers (realparts, seed) are imported by plain name from every test folder.
HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE / "server"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
