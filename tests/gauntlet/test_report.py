"""`organism validate` and `organism report`: the tables, the JSON, and an HTML page that a real
headless Chromium renders (plotly draws every chart) without touching the network."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from organism.cli.main import main
from quant.gauntlet.html import rolling_sharpe

ROOT = Path(__file__).resolve().parents[2]
STRATEGY = ROOT / "examples" / "strategies" / "sma_cross.dsl"
DATA = "synthetic:seed=4,bars=6000"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    d = tmp_path_factory.mktemp("org")
    cfg = d / "organism.toml"
    cfg.write_text(f'[organism]\ndata_dir = "{d / "data"}"\n')
    return d, str(cfg)


def test_validate_prints_every_stage_and_gate_and_keeps_the_strategy(workspace, capsys):
    d, cfg = workspace
    assert main(["--config", cfg, "validate", "--strategy", str(STRATEGY), "--data", DATA,
                 "--trials", "40"]) == 1  # the verdict is fail: exit 1
    out = capsys.readouterr().out
    for text in ("in-sample", "out-of-sample", "walk-forward", "deflated_sharpe", "pbo",
                 "min_backtest_length", "no_lookahead", "readiness score", "FAIL"):
        assert text in out
    stored = list((d / "data" / "strategies").rglob("dsl_0_*.json"))  # failed/ when failing
    assert len(stored) == 1
    sid = stored[0].stem
    assert main(["--config", cfg, "validate", "--strategy", sid, "--json"]) == 1
    rep = json.loads(capsys.readouterr().out)
    assert rep["type"] == "ValidationReport" and rep["strategy_id"] == sid
    assert rep["trial_count"] == 40  # the stored trial count is reused for an id
    assert [s["stage"] for s in rep["stages"]] == ["in_sample", "out_of_sample", "walk_forward"]


def test_validate_and_report_refuse_unknown_things_in_one_line(workspace, capsys):
    _, cfg = workspace
    assert main(["--config", cfg, "validate", "--strategy", "nope_1_x", "--data", DATA]) == 2
    assert "neither a strategy file nor a strategy id" in capsys.readouterr().err
    assert main(["--config", cfg, "validate", "--strategy", str(STRATEGY), "--data",
                 "synthetic:seed=1,bars=100"]) == 2
    assert "needs at least" in capsys.readouterr().err
    assert main(["--config", cfg, "report", "nope_1_x", "--html", "/tmp/x.html"]) == 2
    assert "no validated strategy 'nope_1_x'" in capsys.readouterr().err


def test_rolling_sharpe_by_hand():
    r = np.array([0.01, 0.03, -0.01, 0.02])
    rs = rolling_sharpe(r, 3, 1.0)
    w = r[1:4]
    assert np.isnan(rs[:2]).all()
    assert rs[3] == pytest.approx(w.mean() / w.std(ddof=1))


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None,
                    reason="no headless Chromium installed (Debian package `chromium`; "
                    ".ci/run installs it)")
def test_html_report_renders_in_headless_chromium(workspace, capsys):
    d, cfg = workspace
    assert main(["--config", cfg, "validate", "--strategy", str(STRATEGY), "--data", DATA]) == 1
    sid = next((d / "data" / "strategies").rglob("dsl_0_*.json")).stem
    page = d / "report.html"
    capsys.readouterr()
    assert main(["--config", cfg, "report", sid, "--html", str(page)]) == 0
    text = page.read_text()
    assert not re.search(r'<script[^>]+src="https?:', text), "the page must be self-contained"
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
             "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=90).stdout
    # plotly was unpacked and ran: the chart div holds a rendered SVG plot with its four rows
    assert re.search(r'id="fig0"[^>]*class="[^"]*js-plotly-plot', dom), dom[:2000]
    assert dom.count('class="main-svg"') >= 1
    for title in ("price", "equity (USD)", "drawdown (%)", "rolling Sharpe"):
        assert title in dom
    assert 'class="trades"' in dom and "exit reason" in dom and 'class="monthly"' in dom
    assert 'id="verdict"' in dom and "deflated_sharpe" in dom and "(sma close 50)" in dom
    for stage in ("in-sample", "out-of-sample", "walk-forward"):
        assert stage in dom
