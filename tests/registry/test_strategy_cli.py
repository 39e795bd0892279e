"""`organism strategy` against a real nats-server: add (validated first, or --skip-validation),
list, show, pause / resume / flatten, promote (live needs --yes), retire; markets the
market-data agent does not serve are refused naming the config key."""

from __future__ import annotations

import asyncio
import json

from agents.validation.agent import ValidationAgent
from bus import subjects
from bus.codec import decode
from bus.registry import Registry
from bus.runtime import run_agent
from marketdata.store import CandleStore, candles_table
from organism.cli.main import main
from quant.synth import SynthSpec, generate
from schemas import StrategyControl
from settings import load_config

ORACLE = ("(strategy (long-entry (> close (sma close 48))) (long-exit (< close (sma close 48)))"
          " (short-entry (< close (sma close 48))) (short-exit (> close (sma close 48)))"
          " (size (fixed 0.4)))")
NOISY = "(strategy (long-entry (> close (sma close 3))) (long-exit (< close (sma close 3))))"


def setup(tmp_path, url, blocked=()):
    cfg = tmp_path / "organism.toml"
    cfg.write_text(f'[organism]\ndata_dir = "{tmp_path}"\n[nats]\nurl = "{url}"\n'
                   '[market]\ncoins = ["BTC", "ETH", "SOL"]\nintervals = ["1h"]\n'
                   f'[trader]\nblocked_coins = {json.dumps(list(blocked))}\n'
                   '[metrics]\nenabled = false\n')
    for name, text in (("oracle.dsl", ORACLE), ("noisy.dsl", NOISY)):
        (tmp_path / name).write_text(text)
    return cfg


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


async def acli(capsys, *argv):
    return await asyncio.to_thread(cli, capsys, *argv)


async def test_operator_commands(nats_server, bus, tmp_path, capsys):
    cfg = str(setup(tmp_path, nats_server.url, blocked=["SOL"]))
    code, out, err = await acli(capsys, "strategy", "add", str(tmp_path / "noisy.dsl"),
                                "--coin", "DOGE", "--interval", "1h", "--config", cfg)
    assert code == 2 and "market.coins" in err and "DOGE" in err
    code, out, err = await acli(capsys, "strategy", "add", str(tmp_path / "noisy.dsl"),
                                "--coin", "BTC", "--interval", "4h", "--config", cfg)
    assert code == 2 and "market.intervals" in err
    code, out, err = await acli(capsys, "strategy", "add", str(tmp_path / "noisy.dsl"),
                                "--coin", "SOL", "--interval", "1h", "--config", cfg)
    assert code == 2 and "trader.blocked_coins" in err

    code, out, err = await acli(capsys, "strategy", "add", str(tmp_path / "noisy.dsl"),
                                "--coin", "ETH", "--interval", "1h", "--skip-validation",
                                "--json", "--config", cfg)
    assert code == 0, err
    added = json.loads(out)
    sid = added["strategy_id"]
    assert sid.startswith("user_0_") and added["stage"] == "paper" and added["skipped_validation"]
    reg = await Registry.open(bus, "trader")
    e = await reg.require(sid)
    assert [c.stage for c in e.history] == ["validated", "paper"]
    assert "without validation" in e.history[0].reason and e.origin.kind == "user"

    code, out, _ = await acli(capsys, "strategy", "list", "--stage", "paper", "--json",
                              "--config", cfg)
    assert code == 0 and [r["strategy_id"] for r in json.loads(out)] == [sid]
    code, out, _ = await acli(capsys, "strategy", "show", sid, "--config", cfg)
    assert code == 0 and "stage history" in out and "(sma close 3)" in out

    code, out, err = await acli(capsys, "strategy", "pause", sid, "--reason", "looking",
                                "--config", cfg)
    assert code == 0, err
    assert (await reg.require(sid)).flags.paused.reason == "looking"
    code, out, _ = await acli(capsys, "strategy", "resume", sid, "--config", cfg)
    assert code == 0 and (await reg.require(sid)).flags.paused is None
    code, out, _ = await acli(capsys, "strategy", "flatten", sid, "--config", cfg)
    assert code == 0
    actions = await _controls(bus, sid)
    assert actions == ["pause", "resume", "flatten"]

    code, out, err = await acli(capsys, "strategy", "promote", sid, "--to", "live",
                                "--config", cfg)
    assert code == 1 and "--yes" in err and (await reg.require(sid)).stage == "paper"
    code, out, err = await acli(capsys, "strategy", "promote", sid, "--to", "live", "--yes",
                                "--config", cfg)
    assert code == 0, err
    assert (await reg.require(sid)).account == "live"
    code, out, err = await acli(capsys, "strategy", "retire", sid, "--reason", "enough",
                                "--json", "--config", cfg)
    assert code == 0, err
    e = await reg.require(sid)
    assert e.stage == "retired" and e.death.cause == "operator" and e.history[-1].reason == "enough"
    code, out, err = await acli(capsys, "strategy", "show", "user_0_nothing", "--config", cfg)
    assert code == 1 and "no strategy" in err


async def test_add_validates_first_and_the_registry_says_so(nats_server, bus, tmp_path, capsys):
    cfg = setup(tmp_path, nats_server.url)
    m = generate(SynthSpec(seed=2, bars=2 * 8760, interval="1h", mode="edge", edge=6.0,
                           edge_window=48, annual_vol=0.2)).dataset
    CandleStore(tmp_path).append("BTC", "1h", candles_table([
        dict(t=int(m.time_ms[i]), o=float(m.open[i]), h=float(m.high[i]), l=float(m.low[i]),
             c=float(m.close[i]), v=float(m.volume[i])) for i in range(len(m))]))
    config = load_config(cfg)
    stop = asyncio.Event()
    agent = asyncio.create_task(run_agent(ValidationAgent(), config, url=nats_server.url,
                                          stop=stop, handle_signals=False, log_to_file=False))
    try:
        code, out, err = await acli(capsys, "strategy", "add", str(tmp_path / "oracle.dsl"),
                                    "--coin", "BTC", "--interval", "1h", "--json",
                                    "--config", str(cfg))
        assert code == 0, err
        sid = json.loads(out)["strategy_id"]
        e = await (await Registry.open(bus, "trader")).require(sid)
        assert e.stage == "paper" and not e.origin.skipped_validation
        assert e.history[0].by == "validation" and "passed validation" in e.history[0].reason
        assert e.history[1].by == "operator"
        assert e.validation.data_spec == "store:BTC/1h" and e.origin.trial_count == 1
        code, out, err = await acli(capsys, "strategy", "add", str(tmp_path / "noisy.dsl"),
                                    "--coin", "BTC", "--interval", "1h", "--config", str(cfg))
        assert code == 1 and "failed validation" in err
    finally:
        stop.set()
        assert await agent == 0


async def _controls(bus, sid):
    sub = await bus.js.subscribe(subjects.ctl_strategy(sid), ordered_consumer=True)
    out = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            out.append(decode(msg.data, StrategyControl).action)
    except Exception:
        pass
    finally:
        await sub.unsubscribe()
    return out
