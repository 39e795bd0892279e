"""The strategy report as one self-contained HTML page (plotly.js inlined, no network needed).

Candles with entries and exits, equity and drawdown of one continuous run with the gauntlet's
stages shaded (purge gaps left white), rolling Sharpe, a monthly-returns heatmap, the gate table
from the published report and the strategy's DSL text.
"""

from __future__ import annotations

import html
import math

import numpy as np

from quant.data import Dataset
from quant.gauntlet.config import ValidationConfig
from quant.gauntlet.gauntlet import monthly_returns
from quant.gauntlet.report import STAGE_TITLES, gate_rows, stage_rows
from quant.genome import Strategy
from quant.signals import IndicatorCache, compile_signals
from quant.sim import T_DIR, T_ENTRY_IDX, T_ENTRY_PX, T_EXIT_IDX, T_EXIT_PX, SimConfig, simulate
from schemas import ValidationReport

MAX_CANDLES = 3000
_STAGE_COLOURS = {"in_sample": "rgba(31,119,180,0.10)", "out_of_sample": "rgba(255,127,14,0.13)",
                  "walk_forward": "rgba(44,160,44,0.13)", "paper": "rgba(148,103,189,0.13)"}


def _times(dataset: Dataset) -> np.ndarray:
    return dataset.time_ms.astype("datetime64[ms]")


def _candles(dataset: Dataset) -> tuple[np.ndarray, ...]:
    """OHLC, merged into groups of k bars when there are more than MAX_CANDLES."""
    n = len(dataset)
    k = max(1, math.ceil(n / MAX_CANDLES))
    t = _times(dataset)
    if k == 1:
        return t, dataset.open, dataset.high, dataset.low, dataset.close, k
    starts = np.arange(0, n, k)
    ends = np.minimum(starts + k, n) - 1
    return (t[starts], dataset.open[starts], np.maximum.reduceat(dataset.high, starts),
            np.minimum.reduceat(dataset.low, starts), dataset.close[ends], k)


def rolling_sharpe(returns: np.ndarray, window: int, bars_per_year: float) -> np.ndarray:
    """Annualised Sharpe over the trailing `window` bars (NaN before the window fills)."""
    r = np.asarray(returns, dtype=np.float64)
    out = np.full(r.shape[0], np.nan)
    if r.shape[0] < window or window < 2:
        return out
    c1 = np.cumsum(np.r_[0.0, r])
    c2 = np.cumsum(np.r_[0.0, r * r])
    s1 = c1[window:] - c1[:-window]
    s2 = c2[window:] - c2[:-window]
    mean = s1 / window
    var = np.maximum(s2 / window - mean * mean, 0.0) * window / (window - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[window - 1:] = np.where(var > 1e-18, mean / np.sqrt(var), np.nan) * math.sqrt(bars_per_year)
    return out


def _stage_spans(report: ValidationReport, dataset: Dataset):
    for s in report.stages:
        a = np.datetime64(s.start // 1_000_000, "ms")
        b = np.datetime64(s.end // 1_000_000, "ms") + np.timedelta64(dataset.bar_seconds, "s")
        yield s.stage, a, b


def _shade(fig, report, dataset, rows: list[int]) -> None:
    for stage, a, b in _stage_spans(report, dataset):
        for row in rows:
            label = dict(annotation_text=STAGE_TITLES[stage], annotation_position="top left") \
                if row == rows[0] else {}
            fig.add_vrect(x0=str(a), x1=str(b), fillcolor=_STAGE_COLOURS[stage], line_width=0,
                          layer="below", row=row, col=1, **label)


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = ""
    for row in rows:
        cells = ""
        for c in row:
            tag = {"PASS": "pass", "FAIL": "fail", "ok": "info", "low": "info"}.get(c, "")
            cells += f'<td class="{tag}">{html.escape(c)}</td>'
        body += f"<tr>{cells}</tr>"
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render_report(strategy: Strategy, dsl: str, dataset: Dataset, report: ValidationReport,
                  config: ValidationConfig = ValidationConfig(),
                  sim: SimConfig = SimConfig()) -> str:
    """The page as a string. The run is recomputed from the DSL and data (fast and exact);
    stages, gates, score and verdict are the published report's."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    signals = compile_signals(strategy, IndicatorCache(dataset))
    run = simulate(strategy, signals, dataset, sim)
    t = _times(dataset)
    bpy = dataset.bars_per_year

    # 1. candles with entries and exits
    ct, co, ch, cl, cc, k = _candles(dataset)
    candles = go.Figure(go.Candlestick(x=ct, open=co, high=ch, low=cl, close=cc, name="price"))
    tr = run.trades
    for direction, name, symbol, colour in ((1.0, "long entry", "triangle-up", "#2ca02c"),
                                            (-1.0, "short entry", "triangle-down", "#d62728")):
        sel = tr[tr[:, T_DIR] == direction]
        candles.add_trace(go.Scatter(
            x=t[sel[:, T_ENTRY_IDX].astype(int)], y=sel[:, T_ENTRY_PX], mode="markers",
            name=name, marker=dict(symbol=symbol, size=9, color=colour)))
    candles.add_trace(go.Scatter(
        x=t[tr[:, T_EXIT_IDX].astype(int)], y=tr[:, T_EXIT_PX], mode="markers", name="exit",
        marker=dict(symbol="x", size=7, color="#444")))
    title = "price" + (f" ({k} bars per candle)" if k > 1 else "")
    candles.update_layout(title=title, height=520, xaxis_rangeslider_visible=False,
                          margin=dict(l=50, r=20, t=50, b=30))

    # 2. equity and drawdown, stages shaded
    peak = np.maximum.accumulate(np.r_[run.init_cash, run.equity])[1:]
    dd = run.equity / peak - 1.0
    eq = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                       vertical_spacing=0.04)
    eq.add_trace(go.Scatter(x=t, y=run.equity, name="equity (USD)", line=dict(width=1.2)),
                 row=1, col=1)
    eq.add_trace(go.Scatter(x=t, y=dd * 100, name="drawdown (%)", fill="tozeroy",
                            line=dict(width=0.8, color="#d62728")), row=2, col=1)
    _shade(eq, report, dataset, [1, 2])
    eq.update_layout(title="equity and drawdown (one continuous run; stages shaded, purge gaps "
                     "white)", height=520, margin=dict(l=50, r=20, t=60, b=30))

    # 3. rolling Sharpe over ~30 days
    window = max(2, int(round(30 * 86400 / dataset.bar_seconds)))
    rs = go.Figure(go.Scatter(x=t, y=rolling_sharpe(run.returns, window, bpy),
                              name="rolling Sharpe", line=dict(width=1)))
    rs.add_hline(y=config.min_sharpe, line_dash="dash", annotation_text="gate")
    rs.update_layout(title=f"rolling Sharpe (annualised, {window} bars ≈ 30 days)", height=320,
                     margin=dict(l=50, r=20, t=50, b=30))

    # 4. monthly returns heatmap (year × month)
    months, mret = monthly_returns(dataset.time_ms, run.returns)
    years = months.astype("datetime64[Y]").astype(int) + 1970
    mon = months.astype(int) % 12
    ys = sorted(set(years.tolist()))
    grid = np.full((len(ys), 12), np.nan)
    for y, m, r in zip(years, mon, mret):
        grid[ys.index(int(y)), int(m)] = r * 100
    text = [[("" if math.isnan(v) else f"{v:+.1f}%") for v in row] for row in grid]
    heat = go.Figure(go.Heatmap(
        z=grid, x=["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                   "Dec"], y=[str(y) for y in ys], text=text, texttemplate="%{text}",
        colorscale="RdYlGn", zmid=0, colorbar=dict(title="%")))
    heat.update_layout(title="monthly returns", height=120 + 40 * len(ys),
                       margin=dict(l=50, r=20, t=50, b=30))

    figs = [candles, eq, rs, heat]
    parts = [f.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"fig{i}",
                       config={"displaylogo": False})
             for i, f in enumerate(figs)]
    verdict = report.verdict.upper()
    tone = "pass" if report.verdict == "pass" else "fail"
    score_rows = [[k, f"{v:.1f}"] for k, v in report.score_breakdown.items()]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(report.strategy_id)}: validation report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }}
td.pass {{ color: #1a7f37; font-weight: bold; }} td.fail {{ color: #c62828; font-weight: bold; }}
td.info {{ color: #555; }}
.verdict {{ font-size: 1.3em; padding: 0.4em 0.8em; display: inline-block; border-radius: 4px; }}
.verdict.pass {{ background: #e6f4ea; color: #1a7f37; }} .verdict.fail {{ background: #fdecea; color: #c62828; }}
pre {{ background: #f6f8fa; padding: 1em; overflow-x: auto; }}
</style></head><body>
<h1>{html.escape(report.strategy_id)}</h1>
<p>Data: <code>{html.escape(dataset.name or "")}</code>, {len(dataset)} bars of {dataset.interval};
trials counted: {report.trial_count}.</p>
<p><span id="verdict" class="verdict {tone}">{verdict}</span> readiness score
<b id="score">{report.score:.1f}</b> / 100</p>
<ul id="reasons">{"".join(f"<li>{html.escape(r)}</li>" for r in report.reasons)}</ul>
<h2>Stages</h2>
{_table(["stage", "bars", "Sharpe", "return", "max DD", "trades", "win rate"], stage_rows(report), "stages")}
<h2>Gates</h2>
{_table(["gate", "value", "threshold", "verdict", "detail"], gate_rows(report), "gates")}
<h2>Readiness score</h2>
{_table(["part", "points"], score_rows, "score")}
<h2>Charts</h2>
{"".join(parts)}
<h2>Strategy</h2>
<pre id="dsl">{html.escape(dsl.strip())}</pre>
</body></html>
"""
