"""Print where a cProfile'd bench server spent its time: `python -m bench.profile FILE.prof [N]`.

Two views: functions by their own time (what to make cheaper), and by cumulative time restricted to liveroom's
packages (which step of the request costs what).
"""

from __future__ import annotations

import pstats
import sys


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    top = int(argv[1]) if len(argv) > 1 else 25
    stats = pstats.Stats(argv[0])
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats = pstats.Stats(argv[0])
    stats.sort_stats("cumulative").print_stats(r"/(domain|server|realtime|web)/", top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
