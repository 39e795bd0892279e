"""numba's on-disk cache is keyed by the quant core's source, so a kernel never runs a stale
copy of code it calls in another file (numba checks only the caller's own file)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import quant

ROOT = Path(quant.__file__).resolve().parents[1]


def _cache_path(env_extra: dict, numba_first: bool) -> str:
    code = textwrap.dedent(f"""
        {"import numba" if numba_first else ""}
        import quant, quant.batch
        print(quant.KERNEL_CACHE_DIR)
        print(quant.batch.evaluate_batch_nb._cache.cache_path)
    """)
    env = {**os.environ, **env_extra}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                         capture_output=True, check=True).stdout.split()
    return out


def test_kernels_cache_under_a_directory_named_after_the_source(tmp_path):
    for numba_first in (False, True):  # vectorbt or pandas-ta may import numba before us
        cache_dir, kernel_path = _cache_path({"ORGANISM_NUMBA_CACHE": str(tmp_path)},
                                             numba_first)
        assert Path(cache_dir).parent == tmp_path
        assert kernel_path.startswith(cache_dir)


def test_the_digest_changes_with_any_module_of_the_core(tmp_path, monkeypatch):
    before = quant._source_digest()
    fake = tmp_path / "quant"
    fake.mkdir()
    for p in Path(quant.__file__).parent.glob("*.py"):
        dest = fake / p.relative_to(Path(quant.__file__).parent)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(p.read_bytes())
    monkeypatch.setattr(quant, "_HERE", fake)
    assert quant._source_digest() == before
    (fake / "sim.py").write_text((fake / "sim.py").read_text() + "\n# changed\n")
    assert quant._source_digest() != before


def test_no_kernel_lives_outside_the_digested_modules():
    # the digest covers quant/*.py; a numba kernel in a subpackage would escape it
    here = Path(quant.__file__).parent
    offenders = [str(p.relative_to(here)) for p in here.rglob("*.py")
                 if p.parent != here and "numba" in p.read_text()]
    assert not offenders, f"numba code outside quant/*.py: {offenders}; widen _source_digest"
