"""Planted-edge markets for evolution's proofs and benchmarks: `quant.synth` in its "edge" mode.

The rule planted is the one the strategy grammar expresses as `(> close (sma close W))`: the next
bar's expected return is +mu above the SMA and -mu below, with mu calibrated on the process so the
oracle (long above, short below) earns `edge` annual Sharpe through the backtest, every cost paid.
Volatility clusters, regimes switch, jumps happen: finding the edge is not a toy problem.
`planted[:seed=S,bars=N,edge=SHARPE,window=W]` is a `--data` spec like any other
(marketdata.datasets.load_dataset).
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


PLANTED_OPTIONS = ("seed", "bars", "edge", "window")


def planted_from_options(text: str) -> Dataset:
    """The market of a `planted:` spec's options, `seed=S,bars=N,edge=SHARPE,window=W` (each
    optional; marketdata.datasets.load_dataset reads the whole spec). ValueError naming a bad
    option."""
    opts: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, val = part.partition("=")
        if not eq or key not in PLANTED_OPTIONS:
            raise ValueError(f"bad option {part!r}; options: {', '.join(PLANTED_OPTIONS)} "
                             f"(planted:seed=S,bars=N,edge=SHARPE,window=W)")
        opts[key] = val
    values = {}
    for key, kind, default in (("seed", int, 0), ("bars", int, 6000),
                               ("edge", float, DEFAULT_EDGE), ("window", int, DEFAULT_WINDOW)):
        try:
            values[key] = kind(opts.get(key, default))
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise ValueError(f"option {key}={opts[key]!r}: {key} must be {what}") from None
    return planted_edge(values["seed"], values["bars"], edge=values["edge"],
                        window=values["window"])
