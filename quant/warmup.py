"""Compile the numba kernels once, in one process, so numba's on-disk cache is complete
before several agents (or tests) start.

A cold kernel takes about a second to compile, and a fresh install has dozens: the first
evaluations of every agent would take tens of seconds, longer than an evaluation request's
timeout (remote workers then look dead and their batches fall back to local evaluation), and
every agent process would compile the same kernels at once. `make install` runs this after
installing, so `make run`, `make test` and CI start warm. By hand: `python -m quant.warmup`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def warm_up(genomes: int = 400) -> dict:
    from quant.backtest import Evaluator, evaluate
    from quant.dsl import parse_strategy
    from quant.gp.fitness import InSampleEvaluator
    from quant.random_genome import random_strategy
    from quant.sim import SimConfig
    from quant.synth import SynthSpec, generate

    t0 = time.perf_counter()
    markets = [generate(SynthSpec(seed=1, bars=1500, mode=mode, edge=2.0 if mode == "edge" else 0.0))
               for mode in ("noise", "edge", "regimes")]
    data = markets[1].dataset
    rng = np.random.default_rng(0)
    strategies = [random_strategy(rng) for _ in range(genomes)]
    examples = Path(__file__).resolve().parents[1] / "examples" / "strategies"
    strategies += [parse_strategy(p.read_text(), str(p)) for p in sorted(examples.glob("*.dsl"))]
    strategies.append(parse_strategy(markets[1].oracle_dsl))
    ev = InSampleEvaluator(data)
    ev.evaluate_many(strategies)
    ev.evaluate(strategies[0])
    batch = Evaluator(data, SimConfig())
    batch.metrics_many(strategies[:64], workers=1)
    batch.metrics_many(strategies[:64], workers=2, chunk=16)
    evaluate(strategies[-1], data)
    return {"strategies": len(strategies), "seconds": round(time.perf_counter() - t0, 1)}


if __name__ == "__main__":
    print(f"numba kernels compiled and cached: {warm_up()}")
