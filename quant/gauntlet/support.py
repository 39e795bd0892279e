"""What a history supports, said in a trader's words.

A search that tried N strategies finds, by luck alone, one whose Sharpe is about E[max of N
standard normals] / √years. To tell a real edge of the target Sharpe from that luck the search
needs MinBTL years of history (quant.gauntlet.stats.min_backtest_length); the other way round,
some years of history support only so many trials. Evolution reports both with its progress,
and validation's reason for failing the gate reads "this search tried 48,000 strategies on 1.7
years of history; telling a Sharpe-2 edge from luck needs 4.5 years".
"""

from __future__ import annotations

from dataclasses import dataclass

from quant.gauntlet.stats import min_backtest_length, supported_trials


def span(years: float) -> str:
    """A length of history as people say it: 1.7 years, 8 months, 12 days."""
    if years >= 0.95:
        return f"{years:.1f} years" if round(years, 1) != 1.0 else "1 year"
    months = years * 12
    if months >= 0.95:
        return f"{months:.0f} months" if round(months) != 1 else "1 month"
    days = years * 365
    return f"{days:.0f} days" if round(days) != 1 else "1 day"


def _count(n: int) -> str:
    return f"{n:,} strateg{'y' if n == 1 else 'ies'}"


@dataclass(frozen=True)
class HistorySupport:
    """`trials` strategies tried on `years` of (in-sample) history, judged at an annualised
    target Sharpe."""

    trials: int
    years: float
    target_sharpe: float = 2.0

    @property
    def min_btl_years(self) -> float:
        return min_backtest_length(max(self.trials, 1), self.target_sharpe)

    @property
    def supported_trials(self) -> int:
        return supported_trials(self.years, self.target_sharpe)

    @property
    def enough(self) -> bool:
        return self.years >= self.min_btl_years

    def sentence(self) -> str:
        """One sentence a trader reads: what was tried, on how much history, what it needs."""
        target = f"Sharpe-{self.target_sharpe:g}"
        if self.trials <= 1:
            return (f"a single strategy on {span(self.years)} of history: no search to correct "
                    f"for")
        needs = span(self.min_btl_years)
        head = (f"this search tried {_count(self.trials)} on {span(self.years)} of history; "
                f"telling a {target} edge from luck needs {needs}")
        if self.enough:
            return f"{head}: enough"
        return f"{head} ({span(self.years)} support about {_count(self.supported_trials)})"


def history_support(trials: int, bars: int, bars_per_year: float,
                    target_sharpe: float = 2.0) -> HistorySupport:
    """HistorySupport of `trials` on `bars` bars (bars_per_year: 8760 for 1h)."""
    return HistorySupport(int(trials), bars / bars_per_year if bars_per_year > 0 else 0.0,
                          float(target_sharpe))
