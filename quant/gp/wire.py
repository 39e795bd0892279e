"""GenomeResult ⇄ the wire (`schemas.evaluation`), exactly: a result that went through a NATS
worker compares equal to one computed in this process."""

from __future__ import annotations

from quant.data import Dataset
from quant.gp.fitness import METRIC_KEYS, GenomeResult, dataset_digest
from quant.gp.regimes import REGIMES
from quant.sim import SimConfig
from schemas.evaluation import EvaluationBatch, GenomeEvaluation, GenomeText
from schemas.evolution import PerformanceMetrics

_PM_FIELDS = PerformanceMetrics.__struct_fields__
_INT_FIELDS = {"max_drawdown_bars", "trades", "bars"}


def to_wire(key: str, r: GenomeResult) -> GenomeEvaluation:
    m = r.metrics()
    pm = PerformanceMetrics(**{k: (int(m[k]) if k in _INT_FIELDS else m[k]) for k in _PM_FIELDS})
    return GenomeEvaluation(genome_hash=key, metrics=pm, sharpe_per_bar=m["sharpe_per_bar"],
                            regime_sharpe=dict(zip(REGIMES, r.regimes)),
                            segment_sharpe=list(r.segments), failed=r.failed)


def from_wire(e: GenomeEvaluation) -> GenomeResult:
    values = []
    for k in METRIC_KEYS:
        values.append(float(e.sharpe_per_bar if k == "sharpe_per_bar" else getattr(e.metrics, k)))
    return GenomeResult(tuple(values), tuple(float(e.regime_sharpe.get(r, 0.0)) for r in REGIMES),
                        e.failed, tuple(float(x) for x in e.segment_sharpe))


def performance(r: GenomeResult) -> PerformanceMetrics:
    return to_wire("", r).metrics


def make_batch(batch_id: str, data_spec: str, dataset: Dataset, requests, in_sample: float,
               config: SimConfig, now_ns: int, digest: str | None = None) -> EvaluationBatch:
    return EvaluationBatch(
        ts_event=now_ns, ts_init=now_ns, batch_id=batch_id, data_spec=data_spec,
        start_ms=int(dataset.time_ms[0]), end_ms=int(dataset.time_ms[-1]),
        data_digest=digest or dataset_digest(dataset), in_sample=in_sample,
        fee_bps=config.fee_bps, slippage_bps=config.slippage_bps,
        funding_per_hour=config.funding_per_hour, max_leverage=config.max_leverage,
        init_cash=config.init_cash,
        genomes=[GenomeText(genome_hash=k, dsl=t) for k, t in requests])


def sim_config_of(batch: EvaluationBatch) -> SimConfig:
    return SimConfig(fee_bps=batch.fee_bps, slippage_bps=batch.slippage_bps,
                     funding_per_hour=batch.funding_per_hour, max_leverage=batch.max_leverage,
                     init_cash=batch.init_cash)
