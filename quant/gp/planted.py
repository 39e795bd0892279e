"""Planted-edge markets for evolution's proofs and benchmarks: `quant.synth` in its "edge" mode.

The rule planted is the one the strategy grammar expresses as `(> close (sma close W))`: the next
bar's expected return is +mu above the SMA and -mu below, with mu calibrated on the process so the
oracle (long above, short below) earns `edge` annual Sharpe through the backtest, every cost paid.
Volatility clusters, regimes switch, jumps happen: finding the edge is not a toy problem.
`planted[:seed=S,bars=N,edge=SHARPE,window=W]` is kept as a spec for evolution's commands.
"""

from __future__ import annotations

from quant.data import Dataset
from quant.dsl import parse_strategy
from quant.genome import Strategy
from quant.synth import SynthSpec, generate, oracle_rule

DEFAULT_EDGE = 2.5  # the oracle's annual Sharpe after costs
DEFAULT_WINDOW = 48


def planted_edge(seed: int = 0, bars: int = 6000, interval: str = "1h",
                 edge: float = DEFAULT_EDGE, window: int = DEFAULT_WINDOW) -> Dataset:
    """A seeded market whose edge follows close vs SMA(close, window); `edge` is the oracle's
    annual Sharpe after costs (the same process for every seed)."""
    spec = SynthSpec(seed=seed, bars=bars, interval=interval, mode="edge", edge=edge,
                     edge_window=window)
    return generate(spec).dataset


def oracle_strategy(window: int = DEFAULT_WINDOW) -> Strategy:
    return parse_strategy(oracle_rule(window))


def oracle_sharpe(seed: int = 10_000, bars: int = 20_000, edge: float = DEFAULT_EDGE,
                  window: int = DEFAULT_WINDOW) -> float:
    """Annualised Sharpe of the oracle through the real backtest (fees, slippage, funding), on
    fresh data of the same process."""
    from quant.backtest import evaluate

    ds = planted_edge(seed, bars, edge=edge, window=window)
    return float(evaluate(oracle_strategy(window), ds).metrics["sharpe"])


def load_market(spec: str, data_dir="data") -> Dataset:
    """`quant.data.load_dataset`, plus `planted[:seed=S,bars=N,edge=SHARPE,window=W]`."""
    from quant.data import DataSpecError, load_dataset

    kind, _, rest = spec.partition(":")
    if kind != "planted":
        return load_dataset(spec, data_dir)
    opts: dict[str, str] = {}
    for part in filter(None, rest.split(",")):
        key, eq, val = part.partition("=")
        if not eq or key not in ("seed", "bars", "edge", "window"):
            raise DataSpecError(f"{spec}: bad option {part!r}; use "
                                f"planted:seed=S,bars=N,edge=SHARPE,window=W")
        opts[key] = val
    try:
        return planted_edge(int(opts.get("seed", 0)), int(opts.get("bars", 6000)),
                            edge=float(opts.get("edge", DEFAULT_EDGE)),
                            window=int(opts.get("window", DEFAULT_WINDOW)))
    except ValueError as exc:
        raise DataSpecError(f"{spec}: {exc}") from None
