"""From a candidate to a report: load its history, run the gauntlet, remember its family.

Used by the agent (one per process, fed by the shared durable consumer) and by
`organism validate`. Not pure (it reads datasets from disk); the thinking is in quant.gauntlet.

The gauntlet's in-sample is the candidate's `searched` range: the bars the search saw, however
much longer the stored history has grown; out-of-sample and walk-forward come after them. A
candidate without one gets the first `in_sample_fraction` of the data: right for a strategy no
search of ours bred (a user's file), a guess for a bred one (gp, ga, template) from an evolution
agent older than the field. With `require_searched` (the agent's setting) such a bred candidate
is refused instead: evolution keeps only its last max_bars bars, so splitting a longer store by
fractions could test the strategy on the very bars it was bred on.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from marketdata.datasets import load_dataset
from quant.data import Dataset, DataSpecError
from quant.dsl import DslError, parse_strategy
from quant.gauntlet.config import ValidationConfig
from quant.gauntlet.family import FamilyBook
from quant.gauntlet.gauntlet import GauntletResult, run_gauntlet
from quant.gauntlet.report import to_report
from quant.gauntlet.splits import SplitError, searched_span
from quant.sim import SimConfig
from schemas import StrategyCandidate, ValidationReport
from agents.validation.store import StoredStrategy, StrategyStore


BRED_BY_SEARCH = ("gp", "ga", "template")  # algorithm types the evolution agent publishes


@dataclass(frozen=True)
class Outcome:
    report: ValidationReport
    result: GauntletResult | None  # None when the candidate could not be run at all
    dataset: Dataset | None


class Validator:
    def __init__(self, config: ValidationConfig, data_dir: str | Path,
                 coins: list[str] | tuple[str, ...] = (), sim: SimConfig = SimConfig(),
                 max_datasets: int = 4):
        self.config = config
        self.data_dir = Path(data_dir)
        self.coins = tuple(coins)
        self.sim = sim
        self.families = FamilyBook(config.pbo_max_family)
        self.store = StrategyStore(self.data_dir / config.store_dir, config.keep_failed)
        self._datasets: OrderedDict[str, Dataset | None] = OrderedDict()
        self._max = max_datasets

    def dataset(self, spec: str) -> Dataset:
        if spec in self._datasets:
            self._datasets.move_to_end(spec)
            ds = self._datasets[spec]
            if ds is None:
                raise DataSpecError(f"{spec}: could not be loaded before")
            return ds
        try:
            ds = load_dataset(spec, self.data_dir)
        except DataSpecError:
            self._datasets[spec] = None
            raise
        self._datasets[spec] = ds
        while len(self._datasets) > self._max:
            self._datasets.popitem(last=False)
        return ds

    def other_markets(self, spec: str) -> list[Dataset]:
        """The same interval on the other configured coins, for `store:` data that has them."""
        if not spec.startswith("store:"):
            return []
        coin, _, interval = spec[len("store:"):].partition("/")
        out = []
        for other in self.coins:
            if other == coin:
                continue
            try:
                out.append(self.dataset(f"store:{other}/{interval}"))
            except DataSpecError:
                continue
        return out

    def validate(self, c: StrategyCandidate, now_ns: int, keep: bool = True,
                 require_searched: bool = False) -> Outcome:
        """Run the gauntlet on a candidate. A candidate that cannot be run (bad DSL, missing
        data, history too short, a bred candidate without its searched range when
        `require_searched`) gets a failing report that says why."""
        if c.searched is None and require_searched and c.algorithm_type in BRED_BY_SEARCH:
            return self._not_validated(
                c, now_ns, "the candidate names no searched bar range (an evolution agent older "
                "than StrategyCandidate.searched sent it): its out-of-sample could hold bars the "
                "search saw, so it is refused rather than guessed; the current evolution "
                "agent's candidates carry the range")
        try:
            strategy = parse_strategy(c.dsl, source=c.strategy_id)
            ds = self.dataset(c.data_spec)
            seen = None if c.searched is None else searched_span(ds.time_ms, c.searched)
            members = self.families.members(c.family, c.data_spec, exclude=c.strategy_id) \
                if c.family else []
            result = run_gauntlet(
                strategy, ds, strategy_id=c.strategy_id, trial_count=c.trial_count,
                sharpe_variance=c.sharpe_variance, family=c.family, family_returns=members,
                other_markets=self.other_markets(c.data_spec), config=self.config, sim=self.sim,
                in_sample=seen)
        except (DslError, DataSpecError, SplitError) as exc:
            return self._not_validated(c, now_ns, str(exc))
        if c.family:
            self.families.add(c.family, c.data_spec, c.strategy_id, result.full.returns)
        report = to_report(result, ds, now_ns)
        if keep:
            self.store.put(StoredStrategy(
                strategy_id=c.strategy_id, dsl=c.dsl, data_spec=c.data_spec, coin=c.coin,
                interval=c.interval, family=c.family, trial_count=c.trial_count,
                sharpe_variance=c.sharpe_variance, report=report, searched=c.searched))
        return Outcome(report, result, ds)

    @staticmethod
    def _not_validated(c: StrategyCandidate, now_ns: int, why: str) -> Outcome:
        report = ValidationReport(
            ts_event=now_ns, ts_init=now_ns, strategy_id=c.strategy_id, verdict="fail",
            reasons=[f"not validated: {why}"], stages=[], gates=[], score=0.0,
            trial_count=c.trial_count)
        return Outcome(report, None, None)
