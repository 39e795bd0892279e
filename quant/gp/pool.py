"""Local evaluation: in this process (workers=1) or in a pool of processes (one per core).

Each worker process builds one `InSampleEvaluator` (its own indicator cache) at start and then
evaluates chunks of DSL texts (in this process, the requests' strategies as they are). Results
are keyed by genome hash, so the order in which chunks finish cannot change what the search
sees.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from quant.data import Dataset
from quant.gp.fitness import IN_SAMPLE, GenomeResult, InSampleEvaluator
from quant.sim import SimConfig

_WORKER: InSampleEvaluator | None = None


def _init_worker(dataset: Dataset, config: SimConfig, in_sample: float, cache_mb: float) -> None:
    global _WORKER
    _WORKER = InSampleEvaluator(dataset, config, in_sample, cache_mb)


def _eval_chunk(chunk: list[tuple[str, str]]) -> list[tuple[str, GenomeResult]]:
    assert _WORKER is not None
    return list(_WORKER.evaluate_requests(chunk).items())


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


class LocalPool:
    """`evaluate([(key, dsl), ...]) -> {key: GenomeResult}` on all local cores (or `workers`)."""

    def __init__(self, dataset: Dataset, config: SimConfig = SimConfig(),
                 in_sample: float = IN_SAMPLE, workers: int | None = None, cache_mb: float = 16.0):
        self.workers = default_workers() if workers is None else max(1, int(workers))
        self._local: InSampleEvaluator | None = None
        self._pool: ProcessPoolExecutor | None = None
        if self.workers == 1:
            self._local = InSampleEvaluator(dataset, config, in_sample, cache_mb)
        else:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                initargs=(dataset, config, in_sample, cache_mb))

    def evaluate(self, requests: Sequence[tuple[str, str]]) -> dict[str, GenomeResult]:
        if not requests:
            return {}
        if self._local is not None:
            return self._local.evaluate_requests(requests)
        assert self._pool is not None
        n_chunks = min(len(requests), self.workers * 4)
        chunks = [list(requests[i::n_chunks]) for i in range(n_chunks)]
        out: dict[str, GenomeResult] = {}
        for part in self._pool.map(_eval_chunk, chunks):
            out.update(part)
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_generations(search, evaluate: Callable[[Sequence[tuple[str, str]]], dict],
                    generations: int, on_generation: Callable | None = None):
    """Drive `search` for `generations` more generations with a synchronous evaluator."""
    import time

    target = search.generation + generations
    while search.generation < target:
        t0 = time.perf_counter()
        requests = search.ask()
        results = evaluate(requests)
        stats = search.tell(results)
        if on_generation is not None:
            on_generation(stats, len(requests) / max(time.perf_counter() - t0, 1e-9))
    return search
