"""Figure 4's database (bench/lookup.py) is built with AskCall's own schema, so it breaks when the schema moves on
(tenancy made `requests.tenant_id` required): a small build must insert every row and the Store must find the
stored requests answers point at, through the customer index. No timing is asserted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.lookup import run


async def test_a_small_build_is_found_by_the_store_through_the_customer_index(tmp_path: Path) -> None:
    path = str(tmp_path / "lookup.db")

    result = await run(path, rows=2_000, lookups=200, seed=5)

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM requests").fetchone() == (2_000,)
    finally:
        conn.close()
    assert 0 < result["hits"] < result["lookups"]  # half the lookups aim at stored requests, some at none
    assert "USING INDEX requests_by_customer" in result["plan"]
