"""Agents as real processes: heartbeats seen by `organism status`, SIGTERM drain losing nothing."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import duckdb
from nats.js.errors import NotFoundError

from bus import subjects
from bus.connection import Bus, ConnectOptions
from bus.jetstream import provision
from schemas import KillSwitch
from tests.bus.helpers import wait_sync
from tests.cli.conftest import organism, run_organism


def test_heartbeats_are_seen_by_organism_status(organism_env):
    agent = organism("agent", "recorder", env=organism_env)
    try:
        def status():
            r = run_organism("status", "--json", "--wait", "0.8", env=organism_env)
            assert r.returncode == 0, r.stderr
            rows = json.loads(r.stdout)["agents"]
            return [row for row in rows if row["agent"] == "recorder" and row["state"] == "running"]

        rows = wait_sync(status, timeout=30, what="a running recorder in `organism status`")
        row = rows[0]
        everyone = json.loads(run_organism("status", "--json", "--wait", "0.5", env=organism_env).stdout)
        silent = [r for r in everyone["agents"] if r["state"] == "silent"]
        assert {r["agent"] for r in silent} >= {"market_data"}  # in the Procfile, not running
        assert all(not r["alive"] for r in silent)
        assert row["alive"] is True and row["uptime_s"] >= 0 and row["metrics_port"] > 0
        assert row["dead_letters"] == 0 and row["errors"] == 0
        table = run_organism("status", "--wait", "0.8", env=organism_env)
        assert table.returncode == 0 and "recorder" in table.stdout
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0, agent.stderr.read()


def test_unknown_agent_is_a_one_line_error(organism_env):
    r = run_organism("agent", "nope", env=organism_env)
    assert r.returncode == 2
    assert "unknown agent 'nope'; available: " in r.stderr and "recorder" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_status_without_a_broker_says_so(organism_env):
    env = dict(organism_env, ORGANISM__NATS__URL="nats://127.0.0.1:1")
    r = run_organism("status", "--json", "--wait", "0.3", env=env)
    assert r.returncode == 1
    assert r.stderr.startswith("organism status: no NATS broker answers at nats://127.0.0.1:1")
    assert "`organism up`" in r.stderr and len(r.stderr.strip().splitlines()) == 1


async def _publish(url: str, n: int, tag: str) -> None:
    bus = await Bus.connect(ConnectOptions(url=url, name="publisher"))
    await provision(bus.js)
    for i in range(n):
        now = time.time_ns()
        msg = KillSwitch(ts_event=now, ts_init=now, operator=tag, reason=str(i))
        ack = await bus.publish_durable(subjects.ctl_kill(), msg, msg_id=f"{tag}-{i}")
        assert not ack.duplicate
    await bus.drain()


async def _warehouse_rows(url: str, sql: str):
    from nats.errors import NoRespondersError

    from schemas import WarehouseQuery, WarehouseResult

    bus = await Bus.connect(ConnectOptions(url=url, name="asker"))
    try:
        now = time.time_ns()
        res = await bus.request(subjects.sys_warehouse_query(),
                                WarehouseQuery(ts_event=now, ts_init=now, sql=sql),
                                reply_type=WarehouseResult, timeout=5)
        return res.rows
    except NoRespondersError:  # the recorder is not subscribed yet
        return None
    finally:
        await bus.drain()


async def _acked(url: str) -> int:
    bus = await Bus.connect(ConnectOptions(url=url, name="inspector"))
    try:
        info = await bus.js.consumer_info("CONTROL", "recorder")
        return info.ack_floor.stream_seq
    except NotFoundError:  # the recorder has not created its consumer yet
        return 0
    finally:
        await bus.drain()


def test_sigterm_drain_loses_no_acknowledged_message(organism_env, nats_server, tmp_path):
    """Stop the recorder mid-stream with SIGTERM, restart it: every stored message is in the
    warehouse exactly once, none lost, none doubled."""
    n = 400
    asyncio.run(_publish(nats_server.url, n, "drain"))
    env = dict(organism_env, ORGANISM__RECORDER__BATCH_SIZE="7")
    first = organism("agent", "recorder", env=env)
    wait_sync(lambda: asyncio.run(_acked(nats_server.url)) > 0, timeout=30,
              what="the recorder to ack a first batch")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0, first.stderr.read()
    mid = asyncio.run(_acked(nats_server.url))
    assert 0 < mid <= n
    second = organism("agent", "recorder", env=env)
    wait_sync(lambda: asyncio.run(_acked(nats_server.url)) >= n, timeout=60,
              what="the restarted recorder to ack everything")
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0, second.stderr.read()

    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    rows = con.execute(
        "SELECT count(*), count(DISTINCT seq), min(payload->>'reason'), "
        "count(DISTINCT payload->>'reason') FROM messages "
        "WHERE stream = 'CONTROL' AND payload->>'operator' = 'drain'"
    ).fetchone()
    con.close()
    assert rows[0] == n and rows[1] == n and rows[3] == n


def test_sql_reads_the_warehouse_while_the_recorder_holds_it_and_after(organism_env, nats_server,
                                                                        tmp_path):
    """`organism sql` asks the running recorder (DuckDB lets nobody else open the file), and
    opens the file itself once the recorder is gone; writes are refused either way."""
    n = 25
    asyncio.run(_publish(nats_server.url, n, "sql"))
    env = dict(organism_env, ORGANISM__RECORDER__BATCH_SIZE="10")
    rec = organism("agent", "recorder", env=env)
    query = ("SELECT count(*) AS n, min(payload->>'operator') AS who FROM messages "
             "WHERE stream = 'CONTROL' AND payload->>'operator' = 'sql'")
    wait_sync(lambda: asyncio.run(_warehouse_rows(nats_server.url, query)) == [[n, "sql"]],
              timeout=30, what="the recorder to store the messages and answer queries")
    live = run_organism("sql", query, "--json", env=env)
    assert live.returncode == 0, live.stderr
    assert json.loads(live.stdout) == {"n": n, "who": "sql"}
    few = run_organism("sql", "SELECT seq FROM messages ORDER BY seq", "--max-rows", "3", env=env)
    assert few.returncode == 0 and "more rows exist" in few.stderr
    assert len([ln for ln in few.stdout.splitlines() if ln.strip(" │┃").isdigit()]) == 3
    refused = run_organism("sql", "DELETE FROM messages", env=env)
    assert refused.returncode == 1 and "only read-only queries" in refused.stderr
    bad = run_organism("sql", "SELECT nope FROM messages", env=env)
    assert bad.returncode == 1 and "nope" in bad.stderr
    rec.send_signal(signal.SIGTERM)
    assert rec.wait(timeout=30) == 0
    after = run_organism("sql", query, "--json", env=env)  # nobody answers: the file itself
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == {"n": n, "who": "sql"}
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM messages").fetchone()[0] >= n  # nothing deleted
    con.close()


def test_agents_run_at_their_configured_priority(organism_env):
    import psutil

    env = dict(organism_env, ORGANISM__SUPERVISOR__NICE="{ recorder = 7 }")
    p = organism("agent", "recorder", env=env)
    wait_sync(lambda: psutil.Process(p.pid).nice() == 7, timeout=30,
              what="the recorder to lower its priority to nice 7")
    p.kill()  # (priority is all this test is about; stopping is tested above)
    p.wait(timeout=30)
