"""`organism research`: evolve, then validate the whole hall of fame with the run's true trial
count, Sharpe variance and families, say what passed and why the rest failed, HTML reports."""

from __future__ import annotations

import json
import os
import re

import pytest

from bus.broker import free_port
from tests.cli.conftest import run_main as run

DATA = "planted:seed=2,bars=4000"
SMALL = ("--generations", "2", "--population", "8", "--workers", "1", "--hall-of-fame", "3",
         "--quiet")


@pytest.fixture
def env(tmp_path, monkeypatch):
    for var in [v for v in os.environ if v.startswith("ORGANISM")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("ORGANISM__ORGANISM__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ORGANISM__NATS__PORT", str(free_port()))
    return tmp_path


def test_research_validates_the_hall_of_fame_with_the_runs_true_trial_count(env, capsys):
    out_dir = env / "run"
    code, out, err = run(["research", "--data", DATA, *SMALL, "--out", str(out_dir),
                          "--html", str(env / "pages")], capsys)
    assert code in (0, 1), err
    evo = json.loads((out_dir / "evolution.json").read_text())
    hof = evo["hall_of_fame"]
    trials = evo["trial_count"]
    assert hof and trials > len(hof)
    assert evo["supported_trials"] >= 1 and evo["min_btl_years"] > 0

    lines = out.splitlines()
    assert not [ln for ln in lines if len(ln) > 80 and " " in ln.strip()], out  # a lone path may
    said = " ".join(out.split())
    assert f"bred on {DATA}: {trials:,} strategies tried over 2 generations" in said
    assert f"history: this search tried {trials:,} strategies on" in said
    assert f"{len(hof)} strategies validated" in said
    assert ("why they failed" in said) == (code == 1)
    pages = 0
    for m in hof:  # every member validated, with the run's own figures, and its page written
        sid = m["strategy_id"]
        assert re.search(rf"^{sid}\s+(PASS|FAIL)\s", out, re.M), out
        stored = next((env / "data" / "strategies").rglob(f"{sid}.json"), None)
        if stored is None:  # it could not be run at all: it failed, saying why
            assert re.search(rf"^  {sid}: not validated: ", out, re.M), out
            continue
        stored = json.loads(stored.read_text())
        assert stored["trial_count"] == trials
        assert stored["sharpe_variance"] == evo["sharpe_variance"]
        assert stored["family"] == m["family"] and stored["searched"] == evo["searched"]
        page = (env / "pages" / f"{sid}.html").read_text()
        assert page.lower().startswith("<!doctype html>") and sid in page
        pages += 1
    assert pages
    assert f"reports: {env / 'pages'}/ID.html, one per strategy ({pages} written)" in said


def test_research_json_names_each_verdict_and_its_reasons(env, capsys):
    out_dir = env / "run"
    code, out, err = run(["research", "--data", DATA, *SMALL, "--out", str(out_dir), "--json"],
                         capsys)
    assert code in (0, 1), err
    got = json.loads(out)
    evo = json.loads((out_dir / "evolution.json").read_text())
    assert got["trial_count"] == evo["trial_count"] and got["evolution"] == str(
        out_dir / "evolution.json")
    assert got["history_support"].startswith("this search tried")
    assert len(got["results"]) == len(evo["hall_of_fame"])
    for r in got["results"]:
        assert r["trial_count"] == evo["trial_count"] and r["reasons"]
        if r["reasons"][0].startswith("not validated: "):
            assert r["html"] is None
            continue
        assert (out_dir / "reports" / f"{r['strategy_id']}.html").is_file()
        assert r["html"] == str(out_dir / "reports" / f"{r['strategy_id']}.html")
        if r["verdict"] == "fail" and not r["gates"]["min_backtest_length"]["passed"]:
            assert any(x.startswith("min_backtest_length: this search tried")
                       for x in r["reasons"])
    assert got["passed"] == sum(r["verdict"] == "pass" for r in got["results"])
    assert code == (0 if got["passed"] else 1)


def test_research_checks_its_outputs_before_the_work(env, capsys):
    code, out, err = run(["research", "--data", DATA, *SMALL, "--out", "/etc/passwd"], capsys)
    assert code == 2 and err.startswith("organism research: --out '/etc/passwd' is a file")
    code, out, err = run(["research", "--data", "nonsense:1", *SMALL, "--out", str(env / "r")],
                         capsys)
    assert code == 2 and err.startswith("organism evolve: --data 'nonsense:1' not understood")
