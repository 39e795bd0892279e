"""The command table: each command and the one line it must answer (issue 15), so what a trader
reads stays fixed. Run in-process through the real entry point; no broker runs here, so the
commands that need one must say so in one line.

A row: what it checks, the arguments, rows to run first (setup), the exit code, the stream and
a regular expression one line of it must match. `{tmp}` is the test's folder, `{ex}` the
examples' strategies folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bus.broker import free_port
from organism.cli.main import build_parser
from tests.cli.conftest import run_main as run

EX = Path(__file__).resolve().parents[2] / "examples" / "strategies"
SMA = "{ex}/sma_cross.dsl"
SYNTH = ("data", "synth", "--bars", "300")
BROKER_DOWN = r"no NATS broker answers at nats://127\.0\.0\.1:\d+: .*Start it with `organism up`"


@dataclass(frozen=True)
class Row:
    what: str
    argv: tuple[str, ...]
    code: int
    stream: str  # "out" | "err"
    line: str  # regex one line must match (re.search)
    setup: tuple[tuple[str, ...], ...] = ()
    narrow: bool = False  # every stdout line fits in 80 columns
    env: dict = field(default_factory=dict)


ROWS = [
    # argparse
    Row("a misspelled option is named as unknown",
        ("backtest", "--stratgy", "x", "--data", "y"), 2, "err",
        r"^organism backtest: error: unknown option --stratgy \(did you mean --strategy\?\)"),
    Row("no 'organism organism:'", (), 2, "err",
        r"^organism: error: the following arguments are required: COMMAND"),
    Row("an unknown option after a good command", ("data", "status", "--bogus"), 2, "err",
        r"^organism data status: error: unknown option --bogus"),
    Row("--config is accepted after the subcommand", ("config", "--toml", "--config", "{tmp}/c.toml"),
        0, "out", r'^interval_s = 7\.5$',
        setup=(("!write", "{tmp}/c.toml", "[heartbeat]\ninterval_s = 7.5\n"),)),
    Row("help shows defaults", ("evolve", "--help"), 0, "out", r"generations to breed \(default: 30\)"),
    Row("help without '%%'", ("evolve", "--help"), 0, "out", r"the first 60 % of the data"),
    # lost work: outputs checked first
    Row("evolve --out onto a file", ("evolve", "--data", "planted:bars=600", "--out", "/etc/passwd"),
        2, "err", r"^organism evolve: --out '/etc/passwd' is a file, not a folder"),
    Row("backtest --equity-csv in a missing folder",
        ("backtest", "--strategy", SMA, "--data", "synthetic:bars=300", "--equity-csv",
         "/nonexistdir/x.csv"), 2, "err",
        r"^organism backtest: --equity-csv '/nonexistdir/x\.csv': the folder '/nonexistdir' does not exist"),
    Row("report --html in a missing folder", ("report", "gp_1_00000000", "--html", "/nonexistdir/r.html"),
        2, "err", r"^organism report: --html '/nonexistdir/r\.html': the folder"),
    # no broker, no exchange: one line each
    Row("status with the broker down", ("status",), 1, "err", "^organism status: " + BROKER_DOWN),
    Row("tail with the broker down", ("tail", ">"), 1, "err", "^organism tail: " + BROKER_DOWN),
    Row("sql with nothing running", ("sql", "select 1"), 1, "err",
        r"^organism sql: no recorder answers .*start the organism with `organism up`"),
    Row("backfill with no exchange", ("data", "backfill", "--coin", "BTC", "--interval", "1h"), 1,
        "err", r"^organism data backfill: no exchange answers at http://127\.0\.0\.1:\d+; start "
        r"the local exchange with `organism sim`"),
    Row("tail --since that is no time", ("tail", ">", "--since", "yesterday"), 2, "err",
        r"^organism tail: --since 'yesterday' is not a UTC time; use 2026-11-29"),
    # silent no-ops speak
    Row("synth onto a stored coin", SYNTH, 2, "err",
        r"^organism data synth: store:SYN/1h already holds 300 bars \(2024-01-01 00:00Z to "
        r"2024-01-13 11:00Z\); nothing written\. Add --replace", setup=(SYNTH,)),
    Row("synth --replace", (*SYNTH, "--seed", "2", "--replace"), 0, "out",
        r"^wrote 300 bars .*to store:SYN/1h \(replacing 300 stored bars\)", setup=(SYNTH,)),
    Row("backtest on 10 bars", ("backtest", "--strategy", SMA, "--data", "synthetic:bars=10"), 0,
        "err", r"^warning: only 10 bars: too few"),
    Row("backtest with no trades", ("backtest", "--strategy", SMA, "--data", "synthetic:bars=10"),
        0, "err", r"^warning: no trades in this period"),
    # readable times, money, returns
    Row("data status: UTC dates, one line per series", ("data", "status"), 0, "out",
        r"^SYN\s+1h\s+2024-01-01 00:00Z\s+2024-01-13 11:00Z\s+300\s+0\s+0$", setup=(SYNTH,),
        narrow=True),
    Row("backtest: the period", ("backtest", "--strategy", SMA, "--data", "synthetic:seed=1,bars=1500"),
        0, "out", r"^period\s+2024-01-01 00:00Z → 2024-03-03 11:00Z$", narrow=True),
    Row("backtest: equity in USD", ("backtest", "--strategy", SMA, "--data", "synthetic:seed=1,bars=1500"),
        0, "out", r"^equity\s+\$10,000\.00 → \$\d{1,2},\d{3}\.\d\d$"),
    Row("backtest: return beside buy and hold",
        ("backtest", "--strategy", SMA, "--data", "synthetic:seed=1,bars=1500"), 0, "out",
        r"^return\s+[+-]\d+\.\d%\s+\(buy and hold [+-]\d+\.\d%\)$"),
    Row("backtest: planted data works", ("backtest", "--strategy", SMA, "--data", "planted:bars=800"),
        0, "out", r"^data\s+synthetic:seed=0,bars=800,.*mode=edge"),
    Row("backtest: the whole hash", ("backtest", "--strategy", SMA, "--data", "synthetic:bars=300"),
        0, "out", r"^strategy sha256 [0-9a-f]{64}$"),
    Row("backtest --start/--end", ("backtest", "--strategy", SMA, "--data", "synthetic:bars=1500",
                                   "--start", "2024-01-10", "--end", "2024-01-20"), 0, "out",
        r"^period\s+2024-01-10 00:00Z → 2024-01-19 23:00Z$"),
    Row("backtest --trades", ("backtest", "--strategy", SMA, "--data", "synthetic:seed=1,bars=1500",
                              "--trades", "{tmp}/t.csv"), 0, "err", r"^written: trades .*/t\.csv$"),
    Row("backtest --html", ("backtest", "--strategy", SMA, "--data", "synthetic:seed=1,bars=1500",
                            "--html", "{tmp}/p.html"), 0, "err", r"^written: chart page .*/p\.html$"),
    Row("backtest --help explains Lo's Sharpe", ("backtest", "--help"), 0, "out",
        r"Lo-adj\. Sharpe\s+Sharpe corrected for autocorrelated returns"),
    Row("backtest --help explains PSR", ("backtest", "--help"), 0, "out",
        r"PSR\s+probabilistic Sharpe ratio"),
    Row("a DSL range error reads as a sentence",
        ("backtest", "--strategy", "{tmp}/w.dsl", "--data", "synthetic:bars=300"), 2, "err",
        r"window 'n' = 1000 is out of range: it must be between 2 and 500",
        setup=(("!write", "{tmp}/w.dsl", "(strategy (long-entry (> (sma close 1000) 1)))"),)),
    # validate
    Row("validate documents its exit status", ("validate", "--help"), 0, "out",
        r"^Exit status: 0 when the verdict is pass"),
    Row("validate without a trial count warns", ("validate", "--strategy", SMA, "--data",
                                                 "synthetic:seed=4,bars=3000"), 1, "err",
        r"^warning: no trial count given: the deflated Sharpe assumes .*\(N = 1\)"),
    Row("validate: gate values in percent", ("validate", "--strategy", SMA, "--data",
                                             "synthetic:seed=4,bars=3000", "--trials", "40"), 1,
        "out", r"^deflated_sharpe\s+\d+\.\d%\s+>= 95\.0%\s+FAIL", narrow=True),
    # config
    Row("config --explain names the origin", ("config", "--explain"), 0, "out",
        r"^port = 4777  # environment variable ORGANISM__NATS__PORT$",
        env={"ORGANISM__NATS__PORT": "4777"}),
    Row("config --explain names the --config file", ("config", "--explain", "--config",
                                                     "{tmp}/c.toml"), 0, "out",
        r"^interval_s = 7\.5  # {tmp}/c\.toml$",
        setup=(("!write", "{tmp}/c.toml", "[heartbeat]\ninterval_s = 7.5\n"),)),
]


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """A data folder of its own; nothing listening where the broker or exchange would be."""
    for var in [v for v in __import__("os").environ if v.startswith("ORGANISM")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("ORGANISM__ORGANISM__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ORGANISM__NATS__PORT", str(free_port()))
    monkeypatch.setenv("ORGANISM__VENUE__SIM__PORT", str(free_port()))
    return tmp_path


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{ex}", str(EX))


@pytest.mark.parametrize("row", ROWS, ids=[r.what for r in ROWS])
def test_command_answers_its_line(row: Row, cli_env, capsys, monkeypatch):
    for k, v in row.env.items():
        monkeypatch.setenv(k, v)
    for step in row.setup:
        if step[0] == "!write":
            Path(_fill(step[1], cli_env)).write_text(step[2])
        else:
            assert run([_fill(a, cli_env) for a in step], capsys)[0] == 0
    code, out, err = run([_fill(a, cli_env) for a in row.argv], capsys)
    text = out if row.stream == "out" else err
    pattern = _fill(row.line, cli_env)
    assert any(re.search(pattern, ln.rstrip()) for ln in text.splitlines()), \
        f"no line matches {pattern!r} in:\n{text}\n(other stream:\n{err if text is out else out})"
    assert code == row.code, (code, out, err)
    if row.stream == "err" and row.code != 0:
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    if row.narrow:
        wide = [ln for ln in out.splitlines() if len(ln) > 80]
        assert not wide, "\n".join(wide)


def test_every_help_shows_defaults_and_no_doubled_percent(capsys):
    parser = build_parser()
    stack = [parser]
    seen = 0
    while stack:
        p = stack.pop()
        text = p.format_help()
        assert "%%" not in text and "organism organism" not in text, p.prog
        for action in p._actions:
            if action.option_strings and action.default not in (None, False) and \
                    action.default is not __import__("argparse").SUPPRESS and \
                    not action.option_strings[0] in ("-h",):
                assert "default" in (p._get_formatter()._get_help_string(action) or ""), \
                    (p.prog, action.option_strings)
            if hasattr(action, "choices") and isinstance(action.choices, dict):
                stack.extend(action.choices.values())
        seen += 1
    assert seen > 20


def test_trades_csv_has_the_columns_a_trader_needs(cli_env, capsys):
    path = cli_env / "t.csv"
    assert run(["backtest", "--strategy", str(EX / "sma_cross.dsl"), "--data",
                "synthetic:seed=1,bars=1500", "--trades", str(path)], capsys)[0] == 0
    lines = path.read_text().splitlines()
    assert lines[0] == ("entry_time,exit_time,side,size,entry_price,exit_price,pnl_usd,fees_usd,"
                        "funding_usd,return,bars_held,exit_reason")
    first = lines[1].split(",")
    assert re.match(r"^2024-\d\d-\d\dT\d\d:\d\d:\d\dZ$", first[0]) and first[2] in ("long", "short")
    assert len(lines) > 5


def test_one_id_from_evolve_to_validate_to_report(cli_env, capsys):
    """evolve names gp_G_HASH; validating its DSL (from the run, or as a copied lone file)
    keeps the id and the run's trial count; report finds it by that id."""
    import json

    out_dir = cli_env / "run"
    code, _, err = run(["evolve", "--data", "planted:seed=2,bars=2000", "--generations", "1",
                        "--population", "6", "--workers", "1", "--quiet", "--hall-of-fame", "3",
                        "--mode", "ga", "--out", str(out_dir)], capsys)
    assert code == 0, err
    assert "ga mode: tuning the numbers of template 'trend-filter'" not in err  # --quiet
    evo = json.loads((out_dir / "evolution.json").read_text())
    top = evo["hall_of_fame"][0]
    sid, trials = top["strategy_id"], evo["trial_count"]
    assert (out_dir / top["dsl_file"]).read_text().startswith(f"; strategy {sid}:")

    code, out, err = run(["validate", "--from", str(out_dir / "evolution.json"), "--rank", "1"],
                         capsys)
    assert code in (0, 1), err
    assert f"gauntlet of {sid} " in out and f"{trials:,} trials counted" in " ".join(out.split())
    stored = next((cli_env / "data" / "strategies").rglob(f"{sid}.json"))
    assert json.loads(stored.read_text())["searched"] == evo["searched"]  # the bars bred on

    lone = cli_env / "copied.dsl"  # the text alone, its header comment gone
    lone.write_text(top["dsl"])
    code, out, err = run(["validate", "--strategy", str(lone), "--trials", "1"], capsys)
    assert f"gauntlet of {sid} " in out, out
    assert f"was found by the evolve run {out_dir / 'evolution.json'}" in err
    assert f"--rank 1` (or --trials {trials})" in err

    code, out, err = run(["report", sid, "--html", str(cli_env / "r.html")], capsys)
    assert code == 0, err
    assert out.startswith(f"wrote {cli_env / 'r.html'}")


def test_evolve_table_has_one_rate_and_explains_its_columns(cli_env, capsys):
    code, out, err = run(["evolve", "--data", "planted:seed=2,bars=600", "--generations", "1",
                          "--population", "6", "--workers", "1", "--hall-of-fame", "2",
                          "--mode", "ga", "--out", str(cli_env / "e")], capsys)
    assert code == 0, err
    assert "ga mode: tuning the numbers of template 'trend-filter'" in err
    assert out.count("evals/s") == 1
    assert "score: what selection maximises" in out and "size: nodes" in out
    assert "next: organism validate --from" in out
