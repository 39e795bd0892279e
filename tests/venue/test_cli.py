"""`organism sim` runs the venue until SIGTERM and exits 0."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_organism_sim_serves_and_stops_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "organism.cli.sim_cmd", "sim", "--port", "0", "--market", "frozen", "--seed", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # the URL line is printed (and flushed) once serving
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line + proc.stderr.read()
        url = match.group(0)
        mids = requests.post(url + "/info", json={"type": "allMids"}, timeout=10).json()
        assert mids == {"BTC": "60000", "ETH": "3000", "SOL": "150"}
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0


def test_unknown_market_is_a_clear_error() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "organism.cli.sim_cmd", "sim", "--port", "0", "--market", "nonsense"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "unknown market 'nonsense'" in out.stderr
    assert "candles:PATH or l2:PATH" in out.stderr
