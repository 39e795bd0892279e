"""A worker serving store: history answers the evolution agent, whose history is candles alone,
although loading the store now adds the recorded funding."""

from __future__ import annotations

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa

from agents.evaluator.worker import BatchWorker
from agents.evolution.history import CandleHistory
from marketdata.store import CandleStore
from marketdata.datasets import load_dataset
from quant.data import synthetic
from quant.gp.fitness import InSampleEvaluator
from quant.gp.wire import from_wire, make_batch
from quant.sim import SimConfig

H = 3_600_000


def test_store_history_with_funding_is_served_as_the_requester_sees_it(tmp_path):
    d = synthetic(seed=4, bars=600)
    folder = tmp_path / "candles" / "coin=BTC" / "interval=1h"
    folder.mkdir(parents=True)
    pd.DataFrame({"t": d.time_ms, "o": d.open, "h": d.high, "l": d.low, "c": d.close,
                  "v": d.volume}).to_parquet(folder / "a.parquet")
    marks = d.time_ms[1:] + 0  # funding observed at every hour mark
    CandleStore(tmp_path).append_ctx("BTC", pa.Table.from_pylist(
        [{"t": int(t), "funding": 3e-5} for t in marks]))
    stored = load_dataset("store:BTC/1h", tmp_path)
    assert stored.funding is not None and np.nanmax(stored.funding) == 3e-5

    history = CandleHistory("BTC", "1h", 10_000)
    history.load(stored)
    ds = history.dataset()  # what the evolution agent evaluates on: no funding series
    requests = [("a" * 64, "(strategy (long-entry (> close (sma close 20))) "
                           "(long-exit (< close (sma close 20))))")]
    batch = make_batch("b1", "store:BTC/1h", ds, requests, 0.6, SimConfig(), 1)
    results, error, _ = BatchWorker(tmp_path).run(batch)
    assert error == ""
    assert from_wire(results[0]) == InSampleEvaluator(ds).evaluate_text(requests[0][1])

    # a history that really differs is still refused
    other = make_batch("b2", "store:BTC/1h", ds.slice(0, 500), requests, 0.6, SimConfig(), 1)
    other = msgspec.structs.replace(other, data_digest="0" * 16)
    _, error, _ = BatchWorker(tmp_path).run(other)
    assert "different history" in error
