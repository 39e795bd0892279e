"""A trading strategy's drawdown, and the rule that deactivates it.

One rule, shared: risk denies a strategy's new exposure (and asks the lifecycle to deactivate it)
the moment its drawdown exceeds k times the maximum drawdown validation measured for it; the
lifecycle judges the same thing with the same function.

How a strategy's drawdown is measured (risk's definition, documented in the README):
- its PnL is everything its own fills earned, realised and at the mark, net of fees (USD);
- its capital is its allocation weight times the account's equity (USD);
- its drawdown is the fall of PnL from its highest point so far, over that capital:
  `(peak_pnl - pnl) / capital`, a fraction (0.05 = 5 %). This is the drawdown of an equity curve
  `capital + pnl`, measured against the capital the strategy is meant to use today.
"""

from __future__ import annotations

from decimal import Decimal


def strategy_drawdown(pnl: Decimal, peak_pnl: Decimal, capital: Decimal) -> float:
    """Fall of `pnl` below `peak_pnl` (USD) as a fraction of `capital` (USD); 0 when at the peak
    or when there is no capital to measure against."""
    if capital <= 0 or pnl >= peak_pnl:
        return 0.0
    return float((peak_pnl - pnl) / capital)


def deactivation_limit(validated_max_drawdown: float, k: float) -> float:
    """The drawdown (fraction) beyond which a strategy is deactivated: k x its validated one."""
    if validated_max_drawdown < 0 or k <= 0:
        raise ValueError(f"need validated_max_drawdown >= 0 and k > 0, got "
                         f"{validated_max_drawdown} and {k}")
    return k * validated_max_drawdown


def exceeds_validated_drawdown(drawdown: float, validated_max_drawdown: float, k: float) -> bool:
    """Whether a strategy's live drawdown (fraction) exceeds k x its validated maximum drawdown
    (fraction): strictly more, so a strategy exactly at the limit still trades."""
    return drawdown > deactivation_limit(validated_max_drawdown, k)
