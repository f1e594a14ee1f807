"""Schemathesis drives a real `liveroom serve` from its own /openapi.json: no server error, every answer as documented.

A real server (its own process, a fresh SQLite file) is seeded through the API with the catalog of tests/support/seed.py
(three warehouses, three SKUs with stock, three leaders, room-1, a share link and an order), then `st run` tests every
operation of the document with all checks: generated valid and invalid requests (examples, coverage, fuzzing) and the
stateful phase, which follows the document's links from each create to its reads. A fixed seed and a bounded number
of examples per operation keep it repeatable and within a few minutes.

Nothing is excluded from the run. What cannot be tested honestly is left to other tests rather than faked here:
- The carrier pushes are signed with a secret (DataSign, sign): generated forms carry no valid signature, so
  Schemathesis proves they are refused with 401 in the carrier's answer shape; applying a signed push is proven in
  tests/server/test_carriers.py.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from live import SeedClient, serve_process
from seed import API_KEY, KDNIAO_APPKEY, KUAIDI100_SALT, order_body, seed_catalog, share_code

ST = Path(sys.executable).with_name("st")
SEED = 20261202
MAX_EXAMPLES = 15


async def seed(url: str) -> str:
    """The catalog, a share code of lead-a and an order placed through it; answers the share code."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        client = SeedClient(http)
        await seed_catalog(client)
        code = await share_code(client, "lead-a")
        answer = await http.post(
            "/api/v1/orders", json=order_body("o-seed", "v-seed", [("tea", 1)], code=code)
        )
        assert answer.status_code == 201, answer.text
        return code


# Half of the generated ids are ids the seed made, so the tests reach past 404 into each route's logic.
CONFIG = """
[dictionaries]
orders = { values = ["o-seed"] }
skus = { values = ["tea", "mango", "serum"] }
warehouses = { values = ["SH", "GZ", "BJ"] }
leaders = { values = ["lead-a", "lead-b", "lead-c"] }
rooms = { values = ["room-1"] }
codes = { values = ["%(code)s"] }

[parameters]
"path.order" = { dictionary = "orders", probability = 0.5 }
"path.sku" = { dictionary = "skus", probability = 0.5 }
"path.code" = { dictionary = "warehouses", probability = 0.5 }
"path.warehouse" = { dictionary = "warehouses", probability = 0.5 }
"path.leader" = { dictionary = "leaders", probability = 0.5 }
"path.room" = { dictionary = "rooms", probability = 0.5 }
"body.sku" = { dictionary = "skus", probability = 0.5 }
"body.items[*].sku" = { dictionary = "skus", probability = 0.5 }
"body.skus[*]" = { dictionary = "skus", probability = 0.5 }
"body.leader" = { dictionary = "leaders", probability = 0.5 }
"body.upline" = { dictionary = "leaders", probability = 0.5 }
"body.room" = { dictionary = "rooms", probability = 0.5 }
"body.code" = { dictionary = "codes", probability = 0.5 }

# Rules between fields that JSON Schema cannot state (each is in the operation's description): a city must lie in
# its province, an upline must not be below the leader, a room must end after it starts and not repeat a GMV tier,
# a refund must not exceed what the order has left to refund, a question's text must be more than whitespace and
# fit 300 characters once folded, a coupon's name fits 40 characters, an order's coupon must apply, a leader id
# or a visitor already recruited is taken (409), a task's title must not be blank, a delay notice names at least
# one criterion, a known province, room and warehouse, and a text that is more than whitespace; a review as CSV
# names its table.
# A schema-valid request that breaks one is rightly refused with 422 naming the field.
[[operations]]
include-path = ["/api/v1/warehouses/{code}", "/api/v1/leaders/{leader}", "/api/v1/rooms/{room}",
                "/api/v1/orders", "/api/v1/orders/{order}/verify", "/api/v1/orders/{order}/after-sales",
                "/api/v1/rooms/{room}/questions", "/api/v1/rooms/{room}/coupons/{coupon}",
                "/api/v1/rooms/{room}/leaders", "/api/v1/rooms/{room}/tasks/{task}", "/api/v1/notices",
                "/api/v1/rooms/{room}/review"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""


def st_run(url: str, code: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG % {"code": code})
    command = [
        str(ST),
        "--config-file",
        str(config),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {API_KEY}",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "ndjson",
        "--report-dir",
        str(workdir / "report"),
    ]
    # Run in the test's own folder: Schemathesis keeps a cache folder (.schemathesis/) where it runs.
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=workdir,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(tmp_path: Any) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'liveroom.db'}"
    env = {"LIVEROOM_KDNIAO_APPKEY": KDNIAO_APPKEY, "LIVEROOM_KUAIDI100_SALT": KUAIDI100_SALT}
    with serve_process(database, env) as url:
        code = asyncio.run(seed(url))
        result = st_run(url, code, tmp_path)
    assert result.returncode == 0, f"st run failed:\n{result.stdout[-30000:]}\n{result.stderr[-3000:]}"
