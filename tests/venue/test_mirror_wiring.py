"""`organism sim` (and so `organism up`) mirrors the market-data source when the organism watches a
real market: paper trades real prices by default. Only loopback is ever contacted."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from organism.cli.sim_cmd import sim_config
from venue.config import MAINNET_URL, TESTNET_URL
from venue.testing import SimThread, quiet_config

ROOT = Path(__file__).resolve().parents[2]


def configured(tmp_path: Path, monkeypatch, text: str, market: str | None = None):
    monkeypatch.delenv("ORGANISM_CONFIG", raising=False)
    for key in [k for k in os.environ if k.startswith("ORGANISM__")]:
        monkeypatch.delenv(key)
    path = tmp_path / "organism.toml"
    path.write_text(f'[organism]\ndata_dir = "{tmp_path / "data"}"\n' + text)
    return sim_config(argparse.Namespace(config=str(path), host=None, port=None, market=market,
                                         seed=None))


def test_a_real_market_data_source_is_mirrored(tmp_path, monkeypatch) -> None:
    sim = configured(tmp_path, monkeypatch,
                     '[venue]\nmarket_data = "testnet"\n[market]\ncoins = ["BTC", "DOGE"]\n')
    assert sim.market == f"mirror:{TESTNET_URL}"
    assert [c.name for c in sim.coins] == ["BTC", "ETH", "SOL", "DOGE"]  # the watched coins too
    sim = configured(tmp_path, monkeypatch, '[venue]\nmarket_data = "mainnet"\n')
    assert sim.market == f"mirror:{MAINNET_URL}"
    # where the market-data agent really reads it, when market_data.url says so
    sim = configured(tmp_path, monkeypatch, '[venue]\nmarket_data = "mainnet"\n'
                     '[market_data]\nurl = "http://127.0.0.1:5555/"\n')
    assert sim.market == "mirror:http://127.0.0.1:5555"


def test_the_local_market_stays_when_the_organism_watches_it_or_a_flag_says(tmp_path, monkeypatch) -> None:
    sim = configured(tmp_path, monkeypatch, "")
    assert sim.market == "synthetic" and [c.name for c in sim.coins] == ["BTC", "ETH", "SOL"]
    sim = configured(tmp_path, monkeypatch, '[venue]\nmarket_data = "testnet"\n', market="frozen")
    assert sim.market == "frozen"
    sim = configured(tmp_path, monkeypatch, '[venue.sim]\nmarket = "mirror:http://127.0.0.1:7/"\n')
    assert sim.market == "mirror:http://127.0.0.1:7/"


def test_organism_sim_mirrors_the_configured_source(tmp_path) -> None:
    """What `organism up` runs (Procfile `venue: organism sim`) on a config that watches a
    real market, with a loopback exchange standing in for it."""
    with SimThread(quiet_config()) as source:
        config = tmp_path / "organism.toml"
        config.write_text(f'[organism]\ndata_dir = "{tmp_path / "data"}"\n'
                          f'[venue]\nmarket_data = "testnet"\n'
                          f'[market_data]\nurl = "{source.url}"\n'
                          f'[venue.sim]\nport = 0\n')
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ORGANISM__") and k != "ORGANISM_CONFIG"}
        proc = subprocess.Popen([sys.executable, "-m", "organism.cli.sim_cmd", "--config", str(config), "sim"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            line = proc.stdout.readline()
            match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            assert match, line + proc.stderr.read()
            assert f"mirroring {source.url}" in line
            url = match.group(0)
            meta = requests.post(url + "/info", json={"type": "meta"}, timeout=10).json()
            assert [u["name"] for u in meta["universe"]] == ["BTC", "ETH", "SOL"]
            source.jump("ETH", "3120")
            deadline = time.monotonic() + 10
            while requests.post(url + "/info", json={"type": "allMids"}, timeout=10).json().get("ETH") != "3120":
                assert time.monotonic() < deadline, "the mirror did not follow its source"
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        assert code == 0


def test_a_source_without_a_watched_coin_stops_organism_sim(tmp_path) -> None:
    with SimThread(quiet_config()) as source:
        out = subprocess.run(
            [sys.executable, "-m", "organism.cli.sim_cmd", "sim", "--port", "0",
             "--market", f"mirror:{source.url}"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("ORGANISM__")},
                 "ORGANISM__MARKET__COINS": '["BTC", "PEPE"]',
                 "ORGANISM__ORGANISM__DATA_DIR": str(tmp_path / "data")},
        )
    assert out.returncode == 2
    assert f"the mirror's source {source.url} lists no PEPE" in out.stderr
    assert "market.coins" in out.stderr


@pytest.mark.parametrize("spec", ["mirror:", "mirror:ftp://x"])
def test_a_bad_mirror_url_is_named(spec, tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "organism.cli.sim_cmd", "sim", "--port", "0", "--market", spec],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("ORGANISM__")},
             "ORGANISM__ORGANISM__DATA_DIR": str(tmp_path / "data")},
    )
    assert out.returncode == 2
    assert "mirror:URL needs the REST base URL" in out.stderr
