"""A small run's hall of fame, pinned: the same seed on the same data gives the same strategies,
scores and trial count after any change to how fitness is computed (the batch path, fused
kernels). Pinned on the code before evolution moved to the batch path (commit 3e1b7fe).

A change that is meant to change the search (scoring, operators, simplification, the hall of
fame's de-duplication) changes this run too: regenerate the fixture with
`.venv/bin/python -m tests.gp.test_hall_of_fame_pin` and say why in the commit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from quant.gp.planted import planted_edge
from quant.gp.pool import LocalPool, run_generations
from quant.gp.search import Search, SearchConfig

FIXTURE = Path(__file__).with_name("hall_of_fame_pin.json")
CONFIG = dict(population=16, islands=2, max_window=100, min_trades=5, migration_interval=2,
              seed=21)
GENERATIONS = 5


def _run() -> dict:
    data = planted_edge(seed=4, bars=3000)
    search = Search(SearchConfig(**CONFIG))
    with LocalPool(data, workers=1) as pool:
        run_generations(search, pool.evaluate, GENERATIONS)
    return {
        "trials": search.trials.count,
        "sharpe_variance": search.trials.sharpe_variance,
        "hall_of_fame": [
            {"key": m.key, "score": m.score, "generation": m.generation, "dsl": m.dsl.strip(),
             "values": list(m.result.values), "regimes": list(m.result.regimes),
             "segments": list(m.result.segments)}
            for m in search.hof],
    }


def _close(a: float, b: float) -> bool:
    # bit-identical on the machine that pinned it; another CPU's vector width may reorder a
    # sum (the metrics kernels use fastmath), hence the relative 1e-9
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def test_same_seed_same_hall_of_fame_as_pinned():
    pinned = json.loads(FIXTURE.read_text())
    got = _run()
    assert got["trials"] == pinned["trials"]
    assert _close(got["sharpe_variance"], pinned["sharpe_variance"])
    assert [m["key"] for m in got["hall_of_fame"]] == [m["key"] for m in pinned["hall_of_fame"]]
    for g, p in zip(got["hall_of_fame"], pinned["hall_of_fame"]):
        assert g["dsl"] == p["dsl"] and g["generation"] == p["generation"]
        for field in ("values", "regimes", "segments"):
            assert len(g[field]) == len(p[field])
            assert all(_close(x, y) for x, y in zip(g[field], p[field])), (g["key"], field)
        assert _close(g["score"], p["score"]), g["key"]


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(_run(), indent=1) + "\n")
    print(f"wrote {FIXTURE}")
