"""Evolution runs the command line knows: one strategy keeps one id from evolve to report.

`organism evolve` writes OUT/evolution.json and adds a line to `{data_dir}/evolve_runs.jsonl`
(the run's path, data, trial count, Sharpe variance and each member's hash, id, rank and
family). `organism validate --strategy FILE` looks a lone DSL file up there by its strategy
hash, so an evolved strategy keeps its `gp_4_842dc498` id and its run's true trial count even
when its text was copied elsewhere; `organism validate --from OUT/evolution.json` reads the
run itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

INDEX = "evolve_runs.jsonl"
_HEADER_ID = re.compile(r"^;\s*strategy\s+(?P<id>[A-Za-z0-9]+_\d+_[0-9a-f]{8})\b", re.M)


class RunError(ValueError):
    """An evolution.json that cannot be used, phrased with the fix."""


@dataclass(frozen=True)
class Member:
    strategy_id: str
    rank: int
    dsl: str
    family: str
    genome_hash: str
    run_path: str
    data: str
    trial_count: int
    sharpe_variance: float
    searched: dict | None = None  # the bars the search saw: {start, end (ns), bars}


def add_run(data_dir: Path, path: Path, report: dict) -> None:
    line = {
        "path": str(Path(path).resolve()), "data": report["data"],
        "trial_count": report["trial_count"], "sharpe_variance": report["sharpe_variance"],
        "searched": report.get("searched"),
        "members": {m["genome_hash"]: [m["strategy_id"], m["rank"], m.get("family", "")]
                    for m in report["hall_of_fame"]},
    }
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    with (Path(data_dir) / INDEX).open("a") as fh:
        fh.write(json.dumps(line) + "\n")


def find(data_dir: Path, genome_hash: str) -> Member | None:
    """The newest known run that bred this strategy (by its full strategy hash), or None."""
    index = Path(data_dir) / INDEX
    if not index.is_file():
        return None
    for raw in reversed(index.read_text().splitlines()):
        try:
            run = json.loads(raw)
            hit = run["members"].get(genome_hash)
        except (ValueError, KeyError, AttributeError):
            continue
        if hit:
            sid, rank, family = hit
            return Member(sid, int(rank), "", family, genome_hash, run["path"], run["data"],
                          int(run["trial_count"]), float(run["sharpe_variance"]),
                          run.get("searched"))
    return None


def header_id(text: str, genome_hash: str) -> str | None:
    """The id in an evolved file's `; strategy ID: ...` comment, if its hash part still
    matches the rules (an edited strategy is a new strategy and gets a new id)."""
    m = _HEADER_ID.search(text)
    if m and genome_hash.startswith(m.group("id").rsplit("_", 1)[-1]):
        return m.group("id")
    return None


def read_run(path: str | Path) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "evolution.json"
    if not p.is_file():
        raise RunError(f"--from {str(path)!r}: no such file; give the evolution.json that "
                       f"`organism evolve --out DIR` wrote (DIR/evolution.json)")
    try:
        run = json.loads(p.read_text())
        run["hall_of_fame"], run["trial_count"], run["data"]  # noqa: B018 - shape check
    except (ValueError, KeyError, TypeError):
        raise RunError(f"--from {str(p)!r} is not an evolution.json written by "
                       f"`organism evolve`") from None
    run["_path"] = str(p)
    return run


def members(run: dict, rank: int | None, every: bool) -> list[Member]:
    hof = run["hall_of_fame"]
    if not hof:
        raise RunError(f"{run['_path']} has an empty hall of fame: nothing to validate")
    chosen = hof if every else []
    if not every:
        k = rank or 1
        if not 1 <= k <= len(hof):
            raise RunError(f"--rank {k}: {run['_path']} ranks 1..{len(hof)}")
        chosen = [hof[k - 1]]
    return [Member(m["strategy_id"], int(m.get("rank", i)), m["dsl"], m.get("family", ""),
                   m.get("genome_hash", ""), run["_path"], run["data"], int(run["trial_count"]),
                   float(run.get("sharpe_variance") or 0.0), run.get("searched"))
            for i, m in enumerate(hof, 1) if m in chosen]
