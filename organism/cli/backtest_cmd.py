"""`organism backtest`: run one strategy file over a dataset and print what a trader reads.

The period, start and end equity, the return beside buy and hold over the same bars, then the
figures (each with a short explanation in --help), warnings when the sample is too small to
mean anything; optionally the trade list (--trades), the equity curve (--equity-csv) and a
chart page (--html).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from organism.cli import fmt
from organism.cli.common import DATA_HELP

MIN_BARS = 200  # fewer: the figures are noise (and most indicators are still warming up)
MIN_TRADES = 30  # fewer: Sharpe, win rate and profit factor are noise

FIGURES_HELP = """\
Figures: the strategy beside buy and hold of the same bars (no costs for buy and hold).
  return          compounded over the period; annual return: per year (CAGR)
  Sharpe          mean / standard deviation of per-bar returns, annualised by
                  sqrt(bars per year); risk-free rate 0 (the market is 24/7)
  Lo-adj. Sharpe  Sharpe corrected for autocorrelated returns (Lo 2002): a
                  trending P&L overstates the plain Sharpe; this says by how much
  PSR             probabilistic Sharpe ratio: the probability that the true
                  Sharpe is above 0 given the sample length, skew and fat tails
                  (Bailey, Lopez de Prado); below 95 % the edge may be luck
  Sortino         like Sharpe, but only downside deviation counts as risk
  Calmar          annual return / max drawdown
  max drawdown    worst fall from a running peak of equity
  longest dd      the longest stretch spent below a previous peak
  win rate        share of trades with a positive net PnL
  profit factor   gross profit / gross loss of the trades
  avg trade       mean net return per trade (of its entry notional)
  exposure        share of bars that end holding a position
  turnover        traded notional / equity, per year
Costs: the Hyperliquid taker fee and slippage on every fill, funding on every bar held.
--json: returns and ratios as fractions (0.123 = 12.3 %), money in USD, times in ms since the epoch (UTC). Exit 0, or 2 for a bad strategy, data or option."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest",
        help="backtest a strategy file (S-expression DSL) and print what it would have made",
        description="Backtest a strategy: signals at each close, fills at the next open, "
        "Hyperliquid taker fees, slippage and funding. Prints the period, start and end equity, "
        "the return beside buy and hold, and the figures explained below.",
        epilog=FIGURES_HELP,
    )
    p.add_argument("--strategy", required=True, metavar="FILE", help="strategy file (.dsl)")
    p.add_argument("--data", required=True, metavar="SPEC", help=DATA_HELP)
    p.add_argument("--start", metavar="TIME",
                   help=f"first bar to use, UTC ({fmt.TIME_FORMS}); default: the first bar")
    p.add_argument("--end", metavar="TIME",
                   help="use bars that open before this UTC time (a date alone means its "
                   "midnight); default: through the last bar")
    p.add_argument("--fees-bps", type=float, default=4.5, metavar="X",
                   help="fee per fill in basis points (Hyperliquid taker)")
    p.add_argument("--slippage-bps", type=float, default=1.0, metavar="X",
                   help="slippage per fill in basis points")
    p.add_argument("--funding-per-hour", type=float, default=1.25e-5, metavar="RATE",
                   help="constant hourly funding rate where the data has none (fraction)")
    p.add_argument("--max-leverage", type=float, default=3.0, metavar="X",
                   help="cap on notional / equity at entry")
    p.add_argument("--capital", type=float, default=10_000.0, metavar="USD",
                   help="starting equity in USD")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--trades", metavar="FILE",
                   help="write the trade list as CSV: entry and exit time (UTC) and price, side, "
                   "size, PnL, fees, funding (USD), return, bars held, exit reason")
    p.add_argument("--equity-csv", metavar="FILE",
                   help="write time_ms, equity (USD), return (fraction), position (units) per bar")
    p.add_argument("--html", metavar="FILE",
                   help="write a self-contained chart page: candles with entries and exits, "
                   "equity, drawdown (one time axis), monthly returns, the trade list")
    p.set_defaults(func=run)


def _fail(message: str) -> int:
    return fmt.fail("backtest", message)


def _jsonable(x):
    return x if not isinstance(x, float) or math.isfinite(x) else None


def _window(dataset, start: str | None, end: str | None):
    """The bars between --start and --end (ValueError with the fix)."""
    import numpy as np

    lo = 0 if not start else int(np.searchsorted(dataset.time_ms, fmt.parse_utc(start), "left"))
    hi = len(dataset) if not end else int(np.searchsorted(dataset.time_ms, fmt.parse_utc(end),
                                                          "left"))
    if hi <= lo:
        first, last = fmt.utc_ms(int(dataset.time_ms[0])), fmt.utc_ms(int(dataset.time_ms[-1]))
        raise ValueError(f"no bars between --start {start or '(first)'} and --end "
                         f"{end or '(last)'}; the data covers {first} to {last}")
    return dataset.slice(lo, hi) if (lo, hi) != (0, len(dataset)) else dataset


def run(args: argparse.Namespace) -> int:
    from quant.backtest import evaluate
    from quant.data import DataSpecError
    from quant.dsl import DslError, parse_strategy
    from quant.genome import strategy_hash
    from quant.sim import SimConfig

    from organism.cli.common import load_data

    path = Path(args.strategy)
    if not path.is_file():
        return _fail(f"strategy file {str(path)!r} not found; give a .dsl file "
                     f"(see examples/strategies/)")
    for option, value in (("--trades", args.trades), ("--equity-csv", args.equity_csv),
                          ("--html", args.html)):
        problem = value and fmt.check_output_file(value, option)
        if problem:
            return _fail(problem)
    for option, value in (("--fees-bps", args.fees_bps), ("--slippage-bps", args.slippage_bps),
                          ("--funding-per-hour", args.funding_per_hour),
                          ("--max-leverage", args.max_leverage)):
        if not math.isfinite(value) or value < 0:
            return _fail(f"{option} must be a finite number >= 0, got {value}")
    if not math.isfinite(args.capital) or args.capital <= 0:
        return _fail(f"--capital must be a positive number of USD, got {args.capital}")
    try:
        strategy = parse_strategy(path.read_text(), source=str(path))
    except DslError as exc:
        return _fail(str(exc))
    try:
        dataset = load_data(args, args.data)
        dataset = _window(dataset, args.start, args.end)
    except (DataSpecError, ValueError) as exc:
        return _fail(str(exc))
    config = SimConfig(fee_bps=args.fees_bps, slippage_bps=args.slippage_bps,
                       funding_per_hour=args.funding_per_hour, max_leverage=args.max_leverage,
                       init_cash=args.capital)
    ev = evaluate(strategy, dataset, config)
    metrics = {k: _jsonable(v) for k, v in ev.metrics.items()}
    metrics["strategy_hash"] = strategy_hash(strategy)
    metrics["data"] = dataset.name or args.data
    metrics.update(_period(dataset, ev.result))
    metrics.update({f"buy_and_hold_{k}": _jsonable(v) for k, v in _buy_and_hold(dataset).items()})
    warnings = _warnings(len(dataset), int(metrics["trades"] or 0))
    metrics["warnings"] = warnings
    if args.trades:
        _write_trades(Path(args.trades), ev.result, dataset, config)
    if args.equity_csv:
        _write_equity(Path(args.equity_csv), dataset, ev.result)
    if args.html:
        from quant.gauntlet.html import render_backtest

        page = render_backtest(strategy, path.read_text(), dataset, ev.result,
                               _summary(metrics), f"backtest of {path.name}", config)
        Path(args.html).write_text(page, encoding="utf-8")
    if args.json:
        sys.stdout.write(json.dumps(metrics, sort_keys=True) + "\n")
    else:
        _print(metrics, path.name, dataset.interval)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    written = [f"{o} {v}" for o, v in (("trades", args.trades), ("equity", args.equity_csv),
                                       ("chart page", args.html)) if v]
    if written:
        print("written: " + ", ".join(written), file=sys.stderr)
    return 0


def _period(dataset, result) -> dict:
    n = len(dataset)
    return {
        "first_bar_ms": int(dataset.time_ms[0]), "last_bar_ms": int(dataset.time_ms[-1]),
        "interval": dataset.interval, "start_equity": float(result.init_cash),
        "end_equity": float(result.equity[-1]) if n else float(result.init_cash),
        "days": n * dataset.bar_seconds / 86400.0,
    }


def _buy_and_hold(dataset) -> dict[str, float]:
    """Buying at the first close and holding to the last, no costs: return, annual return,
    Sharpe, max drawdown (fractions; Sharpe annualised)."""
    import numpy as np

    c = np.asarray(dataset.close, dtype=np.float64)
    if c.shape[0] < 2:
        return {"total_return": 0.0, "cagr": 0.0, "sharpe": float("nan"), "max_drawdown": 0.0}
    r = c[1:] / c[:-1] - 1.0
    total = float(c[-1] / c[0] - 1.0)
    years = c.shape[0] / dataset.bars_per_year
    cagr = (1.0 + total) ** (1.0 / years) - 1.0 if years > 0 and total > -1 else float("nan")
    sd = float(r.std(ddof=1)) if r.shape[0] > 1 else 0.0
    sharpe = float(r.mean() / sd * math.sqrt(dataset.bars_per_year)) if sd > 0 else float("nan")
    dd = float(np.max(1.0 - c / np.maximum.accumulate(c)))
    return {"total_return": total, "cagr": cagr, "sharpe": sharpe, "max_drawdown": dd}


def _warnings(bars: int, trades: int) -> list[str]:
    out = []
    if bars < MIN_BARS:
        out.append(f"only {bars} bars: too few for figures that mean anything (use at least "
                   f"{MIN_BARS}; indicators need their look-back before the first signal)")
    if trades == 0:
        out.append("no trades in this period: the figures describe doing nothing")
    elif trades < MIN_TRADES:
        out.append(f"only {trades} trades: Sharpe, win rate and profit factor are noise at this "
                   f"count (at least {MIN_TRADES} for a first read)")
    return out


def _summary(m: dict) -> list[tuple[str, str]]:
    """(figure, value) rows, strategy first then buy and hold where it has one."""
    ret, bh = m["total_return"], m["buy_and_hold_total_return"]
    rows = [
        ("period", f"{fmt.utc_ms(m['first_bar_ms'])} → {fmt.utc_ms(m['last_bar_ms'])}"),
        ("bars", f"{m['bars']:,} of {m['interval']} ({m['days']:,.1f} days)"),
        ("equity", f"{fmt.usd(m['start_equity'])} → {fmt.usd(m['end_equity'])}"),
        ("return", f"{fmt.pct(ret)}   (buy and hold {fmt.pct(bh)})"),
        ("annual return", f"{fmt.pct(m['cagr'])}   (buy and hold {fmt.pct(m['buy_and_hold_cagr'])})"
         if m["days"] >= 90 else "n/a (under 90 days)"),
        ("Sharpe", f"{fmt.num(m['sharpe'])}   (buy and hold {fmt.num(m['buy_and_hold_sharpe'])})"),
        ("Lo-adj. Sharpe", fmt.num(m["sharpe_lo"])),
        ("PSR", fmt.pct(m["psr"], sign=False)),
        ("Sortino", fmt.num(m["sortino"])),
        ("Calmar", fmt.num(m["calmar"])),
        ("volatility", f"{fmt.pct(m['volatility'], sign=False)} a year"),
        ("max drawdown", f"{fmt.pct(m['max_drawdown'], sign=False)}   (buy and hold "
                         f"{fmt.pct(m['buy_and_hold_max_drawdown'], sign=False)})"),
        ("longest dd", f"{m['max_drawdown_bars']:,} bars"),
        ("trades", f"{m['trades']:,} ({fmt.num(m['trades_per_day'])} a day)"),
        ("win rate", fmt.pct(m["win_rate"], sign=False)),
        ("profit factor", fmt.num(m["profit_factor"])),
        ("avg trade", fmt.pct(m["expectancy"], digits=2)),
        ("exposure", fmt.pct(m["exposure"], sign=False)),
        ("turnover", f"{fmt.num(m['turnover'], 1)}× a year"),
        ("skew, kurtosis", f"{fmt.num(m['skew'])}, {fmt.num(m['kurtosis'])}"),
    ]
    return rows


def _print(metrics: dict, title: str, interval: str) -> None:
    out = fmt.console()
    t = fmt.table(f"backtest {title}")
    fmt.key_column(t, "figure")
    fmt.text_column(t, "value")
    t.add_row("data", metrics["data"])
    for k, v in _summary(metrics):
        t.add_row(k, v)
    out.print(t)
    out.print(f"strategy sha256 {metrics['strategy_hash']}", soft_wrap=True)


def _write_trades(path: Path, result, dataset, config) -> None:
    import csv

    from quant.trades import CSV_HEADER, trade_list

    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_HEADER)
        for t in trade_list(result, dataset, config):
            w.writerow(t.csv_row())


def _write_equity(path: Path, dataset, result) -> None:
    import numpy as np

    table = np.column_stack([dataset.time_ms, result.equity, result.returns, result.position])
    np.savetxt(path, table, delimiter=",", header="time_ms,equity,return,position",
               comments="", fmt=["%d", "%.10g", "%.10g", "%.10g"])
