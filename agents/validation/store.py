"""Validated strategies on disk: `{data_dir}/{store_dir}/{strategy_id}.json`, one file each,
holding what `organism report` needs to rebuild the picture (DSL, data spec, the report).

Strategies that passed stay for good; failed ones go to `failed/` and only the newest
`keep_failed` stay there. Evolution on a market without an edge sends hundreds of candidates a
minute (all rightly rejected): keeping every one filled the disk by gigabytes a day. Every
report also stays on the val.report stream and in the recorder's warehouse.

Written atomically (temp file + rename), so a reader never sees half a file and several
validation agents can share the folder.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import msgspec

from schemas import BarRange, ValidationReport

_SAFE = re.compile(r"^[A-Za-z0-9_.\-]+$")


class StoredStrategy(msgspec.Struct, frozen=True, kw_only=True):
    strategy_id: str
    dsl: str
    data_spec: str
    coin: str = ""
    interval: str = ""
    family: str = ""
    trial_count: int = 1
    sharpe_variance: float = 0.0
    report: ValidationReport | None = None
    searched: BarRange | None = None  # the bars the search saw (validation's in-sample)


class StrategyStore:
    def __init__(self, folder: str | Path, keep_failed: int | None = None):
        self.folder = Path(folder)
        self.failed = self.folder / "failed"
        self.keep_failed = keep_failed  # None: keep every failed strategy
        self._failed_puts = 0

    def path(self, strategy_id: str, failed: bool = False) -> Path:
        if not _SAFE.match(strategy_id):
            raise ValueError(f"strategy id {strategy_id!r} is not a plain file name")
        return (self.failed if failed else self.folder) / f"{strategy_id}.json"

    def put(self, record: StoredStrategy) -> Path:
        failed = record.report is None or record.report.verdict != "pass"
        folder = self.failed if failed else self.folder
        folder.mkdir(parents=True, exist_ok=True)
        target = self.path(record.strategy_id, failed)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "wb") as f:
            f.write(msgspec.json.format(msgspec.json.encode(record)))
        os.replace(tmp, target)
        self.path(record.strategy_id, not failed).unlink(missing_ok=True)  # re-validated
        if failed and self.keep_failed is not None:
            self._failed_puts += 1
            # prune now and then (a folder listing per put would grow with the folder)
            if self._failed_puts % max(1, self.keep_failed // 10) == 0 or self.keep_failed == 0:
                self.prune_failed()
        return target

    def prune_failed(self) -> int:
        """Delete all but the newest `keep_failed` failed strategies; returns how many went."""
        if self.keep_failed is None or not self.failed.is_dir():
            return 0
        files = []
        for p in self.failed.glob("*.json"):
            try:
                files.append((p.stat().st_mtime_ns, p))
            except FileNotFoundError:  # pruned by another validation agent meanwhile
                pass
        files.sort(reverse=True)
        for _, p in files[self.keep_failed:]:
            p.unlink(missing_ok=True)
        return max(0, len(files) - self.keep_failed)

    def get(self, strategy_id: str) -> StoredStrategy | None:
        for p in (self.path(strategy_id), self.path(strategy_id, True)):
            if p.is_file():
                return msgspec.json.decode(p.read_bytes(), type=StoredStrategy)
        return None

    def ids(self) -> list[str]:
        return sorted(p.stem for folder in (self.folder, self.failed) if folder.is_dir()
                      for p in folder.glob("*.json") if not p.name.startswith("."))
