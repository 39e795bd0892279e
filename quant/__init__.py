"""The quant core: genome, DSL, indicators, simulation, metrics (pure code, no NATS).

numba caches compiled kernels on disk, but it invalidates a cached function only when its own
file changes: a kernel in batch.py that calls simulate_into_nb keeps the *old* simulation after
sim.py is edited or updated by a `git pull`, and silently computes stale results. So the cache
lives in a directory named after a digest of the modules directly in quant/ (the subpackages,
gp and gauntlet, hold no kernels; a test keeps it so): any change to them starts a fresh cache
(`python -m quant.warmup` fills it; `make` runs it). Root: $ORGANISM_NUMBA_CACHE, default
`.numba_cache/` beside the package; this overrides NUMBA_CACHE_DIR, and caches of other
versions older than a day are removed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _source_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(_HERE.glob("*.py")):
        h.update(str(path.relative_to(_HERE)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _kernel_cache_dir() -> Path:
    root = Path(os.environ.get("ORGANISM_NUMBA_CACHE") or _HERE.parent / ".numba_cache")
    current = root / _source_digest()
    try:
        for old in root.iterdir():
            if old != current and old.is_dir() and time.time() - old.stat().st_mtime > 86_400:
                shutil.rmtree(old, ignore_errors=True)
    except OSError:
        pass  # no root yet, or not ours to tidy
    return current


KERNEL_CACHE_DIR = _kernel_cache_dir()
os.environ["NUMBA_CACHE_DIR"] = str(KERNEL_CACHE_DIR)
if "numba" in sys.modules:  # imported before us (vectorbt, pandas-ta): tell its config too
    sys.modules["numba"].config.CACHE_DIR = str(KERNEL_CACHE_DIR)
