"""Validated strategies on disk: `{data_dir}/{store_dir}/{strategy_id}.json`, one file each,
holding what `organism report` needs to rebuild the picture (DSL, data spec, the report).

Written atomically (temp file + rename), so a reader never sees half a file and several
validation agents can share the folder.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import msgspec

from schemas import ValidationReport

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


class StrategyStore:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, strategy_id: str) -> Path:
        if not _SAFE.match(strategy_id):
            raise ValueError(f"strategy id {strategy_id!r} is not a plain file name")
        return self.folder / f"{strategy_id}.json"

    def put(self, record: StoredStrategy) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(record.strategy_id)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "wb") as f:
            f.write(msgspec.json.format(msgspec.json.encode(record)))
        os.replace(tmp, target)
        return target

    def get(self, strategy_id: str) -> StoredStrategy | None:
        p = self.path(strategy_id)
        if not p.is_file():
            return None
        return msgspec.json.decode(p.read_bytes(), type=StoredStrategy)

    def ids(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json") if not p.name.startswith("."))
