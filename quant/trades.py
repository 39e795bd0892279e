"""A backtest's trades as a trader reads them: times, side, size, prices, PnL, fees, funding.

The kernel records each trade's net PnL (fees and funding included) and its fill prices
(slippage included); fees are recomputed from those fills (every fill pays `fee_bps`, except
the mark at the end of the data, which is no fill), and funding is what remains of the net
PnL beyond the price move and the fees. So `pnl = gross - fees + funding` holds exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from quant.data import Dataset
from quant.sim import (EXIT_END, EXIT_NAMES, T_DIR, T_ENTRY_IDX, T_ENTRY_PX, T_EXIT_IDX,
                       T_EXIT_PX, T_PNL, T_REASON, T_RET, T_SIZE, BacktestResult, SimConfig)

CSV_HEADER = ("entry_time", "exit_time", "side", "size", "entry_price", "exit_price",
              "pnl_usd", "fees_usd", "funding_usd", "return", "bars_held", "exit_reason")


@dataclass(frozen=True)
class Trade:
    entry_ms: int  # open time of the bar whose open filled the entry (ms since the epoch, UTC)
    exit_ms: int  # open time of the exit bar (the last bar's open for an end-of-data mark)
    side: str  # "long" | "short"
    size: float  # units of the coin, positive
    entry_price: float  # fill price, slippage included
    exit_price: float
    pnl_usd: float  # net: price move - fees + funding
    fees_usd: float  # paid, positive
    funding_usd: float  # received (positive) or paid (negative)
    ret: float  # pnl / entry notional (fraction)
    bars_held: int
    exit_reason: str

    def csv_row(self) -> tuple:
        from datetime import datetime, timezone

        def iso(ms: int) -> str:
            return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        return (iso(self.entry_ms), iso(self.exit_ms), self.side, f"{self.size:.10g}",
                f"{self.entry_price:.10g}", f"{self.exit_price:.10g}", f"{self.pnl_usd:.2f}",
                f"{self.fees_usd:.2f}", f"{self.funding_usd:.2f}", f"{self.ret:.6f}",
                self.bars_held, self.exit_reason)

    def as_dict(self) -> dict:
        return asdict(self)


def trade_list(result: BacktestResult, dataset: Dataset, config: SimConfig = SimConfig()
               ) -> list[Trade]:
    tr = result.trades
    fee = config.fee_bps * 1e-4
    out = []
    for row in np.asarray(tr):
        i, j = int(row[T_ENTRY_IDX]), int(row[T_EXIT_IDX])
        direction = float(row[T_DIR])
        size = abs(float(row[T_SIZE]))
        epx, xpx = float(row[T_ENTRY_PX]), float(row[T_EXIT_PX])
        reason = int(row[T_REASON])
        gross = direction * size * (xpx - epx)
        fees = fee * size * epx + (0.0 if reason == EXIT_END else fee * size * xpx)
        pnl = float(row[T_PNL])
        out.append(Trade(
            entry_ms=int(dataset.time_ms[min(i, len(dataset) - 1)]),
            exit_ms=int(dataset.time_ms[min(j, len(dataset) - 1)]),
            side="long" if direction > 0 else "short", size=size, entry_price=epx,
            exit_price=xpx, pnl_usd=pnl, fees_usd=fees, funding_usd=pnl - gross + fees,
            ret=float(row[T_RET]), bars_held=max(0, j - i),
            exit_reason=EXIT_NAMES[reason] if 0 <= reason < len(EXIT_NAMES) else str(reason)))
    return out
