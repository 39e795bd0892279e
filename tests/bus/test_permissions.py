"""The broker enforces the risk gate (issue 12): deploy/nats/hub.conf and leaf.conf are rendered
from the table in bus/permissions.py, and a real nats-server running that configuration refuses
every hole found by probing the old hub.conf, and the ones found since."""

from __future__ import annotations

import json
import subprocess

import msgspec
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from agents import KNOWN_AGENTS
from bus import permissions as perm
from bus import subjects
from bus.broker import find_nats_server
from bus.codec import encode
from bus.connection import Bus, ConnectOptions
from bus.jetstream import KV_BUCKETS, STREAMS, exec_bucket, stream_for
from organism.procfile import read_procfile
from tests.bus.helpers import eventually
from tests.schemas.examples import EXAMPLES

ROOT = perm.ROOT
COMMAND = EXAMPLES["SubmitOrder"]
EXEC_CMD_PAPER = subjects.exec_cmd("paper", "BTC")


# --- the files and the table ----------------------------------------------------------------------
def test_hub_and_leaf_conf_are_the_rendered_table():
    assert perm.HUB_CONF.read_text() == perm.render_hub(), (
        "deploy/nats/hub.conf differs from bus/permissions.py: run `.venv/bin/python -m "
        "bus.permissions`")
    assert perm.LEAF_CONF.read_text() == perm.render_leaf(), (
        "deploy/nats/leaf.conf differs from bus/permissions.py: run `.venv/bin/python -m "
        "bus.permissions`")


def test_nats_server_accepts_both_files():
    env = {perm.password_env(u): f"pw{u}" for u in perm.USERS}
    env[perm.LEAF_URL_ENV] = "nats-leaf://execution_live:pw@127.0.0.1:7422"
    for path in (perm.HUB_CONF, perm.LEAF_CONF):
        r = subprocess.run([str(find_nats_server()), "-t", "-c", str(path)], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr


def test_the_table_names_real_streams_buckets_and_processes():
    streams = {spec.name for spec in STREAMS}
    # a Procfile entry is named after the process, which logs in as that user
    procfile_agents = {p.name for p in read_procfile(ROOT / "Procfile")
                       if p.command.startswith("organism agent")}
    for p in perm.PRINCIPALS:
        assert {d.stream for d in p.durables} <= streams, p.name
        assert set(p.streams_read) <= streams, p.name
        assert set(p.kv_write) | set(p.kv_read) <= set(KV_BUCKETS), p.name
        assert p.agent == (p.name in KNOWN_AGENTS), p.name  # every agent is a user, by name
    assert set(KNOWN_AGENTS) <= set(perm.USERS)
    assert procfile_agents <= set(perm.USERS)
    # every durable an existing agent creates is granted (names from their code and config)
    granted = {(d.stream, d.name) for p in perm.PRINCIPALS for d in p.durables}
    assert {("LIFECYCLE", "evolution"), ("EVOLUTION", "validation")} <= granted
    assert {(spec.name, "recorder") for spec in STREAMS} <= granted


def _writers(subject: str) -> set[str]:
    return {u for u in perm.USERS if perm.may_publish(u, subject)}


def test_one_writer_for_each_order_path_subject_and_bucket():
    assert _writers(EXEC_CMD_PAPER) == {"risk"}
    assert _writers(subjects.exec_cmd("live", "ETH")) == {"risk"}
    for subject in (subjects.risk_decision("live", "s1"), subjects.risk_state("paper"),
                    subjects.risk_deactivate("s1"), subjects.risk_flatten("live")):
        assert _writers(subject) == {"risk"}, subject
    for subject in (subjects.ctl_kill(), subjects.ctl_resume(), subjects.ctl_strategy("s1")):
        assert _writers(subject) == {"operator"}, subject
    assert _writers(subjects.order_intent("live", "operator")) == {"operator"}
    assert _writers(subjects.order_intent("live", "gp_1_ab")) == {"trader"}
    for account in perm.ACCOUNTS:
        me = {f"execution_{account}"}
        assert _writers(subjects.exec_event(account, "filled", "BTC")) == me
        assert _writers(subjects.exec_position(account, "BTC")) == me
        assert _writers(subjects.exec_account(account)) == me
        assert _writers(subjects.exec_status(account)) == me
        durable_api = f"$JS.API.CONSUMER.MSG.NEXT.EXEC_CMD.execution_{account}"
        assert _writers(durable_api) == me  # only execution binds its consumer
        assert _writers(f"$JS.ACK.EXEC_CMD.execution_{account}.1.2.3.4.0") == me
        assert _writers(f"$JS.API.CONSUMER.DELETE.EXEC_CMD.execution_{account}") == {"admin"}
    for bucket, spec in KV_BUCKETS.items():
        want = {spec.owner} if spec.owner else {"validation", "lifecycle", "operator"}
        assert _writers(f"$KV.{bucket}.some_key") == want, bucket
    for api in ("STREAM.CREATE.X", "STREAM.UPDATE.EXEC_CMD", "STREAM.DELETE.ORDERS",
                "STREAM.PURGE.EXEC_CMD", "STREAM.MSG.DELETE.ORDERS", "CONSUMER.DELETE.ORDERS.risk"):
        assert _writers(f"$JS.API.{api}") == {"admin"}, api


def test_nobody_holds_a_core_subscription_on_the_order_path():
    """Otherwise a push consumer could relay stored messages onto exec.cmd (see the table)."""
    for user in perm.USERS:
        allowed = perm.nats_permissions(perm.BY_NAME[user]).subscribe_allow
        for pattern in allowed:
            for protected in perm.protected_subjects():
                assert perm.intersect(pattern, protected) is None, (user, pattern, protected)
            assert not pattern.startswith("_INBOX") or pattern == f"_INBOX_{user}.>", user


def test_matching_follows_nats_wildcards():
    assert perm.intersect("order.>", "order.intent.*.*") == "order.intent.*.*"
    assert perm.intersect("a.*.c", "a.b.*") == "a.b.c"
    assert perm.intersect("a.*", "a.b.c") is None and perm.intersect("a.>", "a") is None
    assert perm.matches(">", "$KV.risk.x") and not perm.matches("exec.*", "exec.cmd.paper.BTC")


# --- a real nats-server running it ----------------------------------------------------------------
async def _refused(bus: Bus, subject: str, action) -> None:
    """`action` is refused by the broker on `subject` (a Permissions Violation comes back)."""
    before = len(bus.refusals)
    try:
        await action()
    except (nats.errors.TimeoutError, TimeoutError):
        pass  # a refused request is never answered
    await bus.flush()
    want = f'"{subject.lower()}"'  # nats-py lowercases the server's text
    await eventually(lambda: any(want in r.lower() for r in list(bus.refusals)[before:]),
                     timeout=5, what=f"the broker to refuse {subject}")


def _request(bus: Bus, subject: str, data: bytes = b"{}"):
    """A request sent without waiting for the answer (a refused one never gets one)."""
    return bus.nc.publish(subject, data, reply=bus.nc.new_inbox())


async def _count(admin: Bus, stream: str) -> int:
    return (await admin.js.stream_info(stream)).state.messages


async def test_anonymous_and_wrong_passwords_are_refused(secured_nats):
    with pytest.raises(ConnectionError, match="refused an anonymous connection"):
        await Bus.connect(ConnectOptions(url=secured_nats.url, name="x", initial_attempts=1))
    with pytest.raises(ConnectionError, match="refused user 'risk': wrong or missing password"):
        await Bus.connect(ConnectOptions(url=secured_nats.url, name="x", user="risk",
                                         password=secured_nats.password("trader"),
                                         initial_attempts=1))


async def test_only_risk_publishes_execution_commands(connect_as):
    admin = await connect_as("admin")
    before = await _count(admin, "EXEC_CMD")
    for user in perm.USERS:
        if user == "risk":
            continue
        rogue = await connect_as(user)
        await _refused(rogue, EXEC_CMD_PAPER,
                       lambda: _request(rogue, EXEC_CMD_PAPER, encode(COMMAND)))
    assert await _count(admin, "EXEC_CMD") == before
    risk = await connect_as("risk")
    await risk.publish_durable(EXEC_CMD_PAPER, COMMAND, msg_id="perm-test-1")
    assert await _count(admin, "EXEC_CMD") == before + 1
    assert not risk.refusals


async def test_the_holes_of_the_old_hub_conf_are_closed(connect_as):
    """Probing the old hub.conf as `evolution`: it could put into any KV bucket ($KV.risk.>
    included), delete or bind to the EXEC_CMD durable, and publish ctl.resume."""
    admin = await connect_as("admin")
    execution = await connect_as("execution_paper")
    bound = await execution.js.pull_subscribe(
        subjects.exec_cmd("paper", "*"), durable="execution_paper", stream="EXEC_CMD",
        config=ConsumerConfig(durable_name="execution_paper", ack_policy=AckPolicy.EXPLICIT,
                              filter_subject=subjects.exec_cmd("paper", "*")))
    await bound.unsubscribe()
    evolution = await connect_as("evolution")
    nc = evolution.nc
    for bucket in KV_BUCKETS:  # writes into every bucket, risk's state first
        key = f"$KV.{bucket}.state_paper"
        await _refused(evolution, key, lambda: _request(evolution, key))
    risk_kv = await admin.kv("risk")
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await risk_kv.get("state_paper")
    durable = "EXEC_CMD.execution_paper"
    for api in (f"CONSUMER.DELETE.{durable}", f"CONSUMER.INFO.{durable}",
                f"CONSUMER.MSG.NEXT.{durable}", f"CONSUMER.CREATE.{durable}",
                f"CONSUMER.CREATE.{durable}.exec.cmd.live.>", f"CONSUMER.DURABLE.CREATE.{durable}",
                "CONSUMER.CREATE.EXEC_CMD", "CONSUMER.CREATE.EXEC_CMD.mine"):
        subject = f"$JS.API.{api}"
        await _refused(evolution, subject, lambda: _request(evolution, subject))
    info = await admin.js.consumer_info("EXEC_CMD", "execution_paper")
    assert info.config.filter_subject == subjects.exec_cmd("paper", "*")  # still there, as made
    ack = "$JS.ACK.EXEC_CMD.execution_paper.1.1.1.1795931905196181162.0"
    await _refused(evolution, ack, lambda: nc.publish(ack, b"+ACK"))
    before = await _count(admin, "CONTROL")
    for subject in (subjects.ctl_resume(), subjects.ctl_kill(), subjects.ctl_strategy("gp_1")):
        await _refused(evolution, subject,
                       lambda: _request(evolution, subject, encode(EXAMPLES["ResumeTrading"])))
    assert await _count(admin, "CONTROL") == before


@pytest.mark.parametrize("user, subject", [
    # only risk writes its state and decisions; risk writes no registry (it asks, by an event)
    ("trader", "$KV.risk.state_live"),
    ("operator", "$KV.risk_decisions.intent-1"),
    ("risk", "$KV.registry.gp_1_ab"),
    ("trader", "$KV.registry.gp_1_ab"),
    # one execution process per account: no reach into the other's
    ("execution_paper", "$KV.exec_live.positions"),
    ("execution_paper", subjects.exec_event("live", "filled", "BTC")),
    ("execution_paper", "$JS.API.CONSUMER.MSG.NEXT.EXEC_CMD.execution_live"),
    ("execution_live", "$JS.API.CONSUMER.INFO.EXEC_CMD.execution_paper"),
    # the trader cannot speak for the operator; risk cannot forge fills
    ("trader", subjects.order_intent("live", "operator")),
    ("risk", subjects.exec_event("paper", "filled", "BTC")),
    ("risk", subjects.order_intent("paper", "gp_1_ab")),
    # streams and buckets are admin's: no purge, no delete, no new subjects on EXEC_CMD
    ("risk", "$JS.API.STREAM.PURGE.ORDERS"),
    ("operator", "$JS.API.STREAM.DELETE.EXEC_CMD"),
    ("trader", "$JS.API.STREAM.UPDATE.EXEC_CMD"),
    ("dashboard", "$JS.API.STREAM.CREATE.MIRROR"),
    ("dashboard", "$JS.API.STREAM.MSG.DELETE.ORDERS"),
    ("operator", "$JS.API.CONSUMER.DELETE.ORDERS.risk"),
    # admin provisions; it trades nothing
    ("admin", subjects.order_intent("paper", "operator")),
])
async def test_each_user_is_refused_what_is_not_its_own(connect_as, user, subject):
    bus = await connect_as(user)
    await _refused(bus, subject, lambda: _request(bus, subject))


async def test_nobody_reads_another_users_replies_or_subscribes_to_the_order_path(connect_as):
    """Replies carry consumer deliveries, KV values and acks: each user has its own inbox. And
    no core subscription on the order path (the relay below needs one)."""
    for user in ("evolution", "dashboard", "operator", "risk"):
        bus = await connect_as(user)
        for subject in ("_INBOX.>", "_INBOX_execution_paper.>", EXEC_CMD_PAPER, "exec.>",
                        subjects.ctl_resume(), "$KV.risk.state_paper", ">"):
            await _refused(bus, subject, lambda: bus.nc.subscribe(subject))


async def test_a_consumer_cannot_relay_stored_messages_onto_execution_commands(connect_as):
    """nats-server lets anyone who may create a consumer choose its deliver subject: a KV writer
    puts a forged command in its bucket and has it delivered onto exec.cmd. The server delivers
    only to an exact subscription, which no user may hold on the order path, so nothing is
    stored; the same relay onto a research subject the attacker may subscribe shows it would."""
    admin = await connect_as("admin")
    regime = await connect_as("regime")
    observer = await connect_as("operator")
    heard = await observer.nc.subscribe(subjects.val_report("x"))  # exact, and allowed
    kv = await regime.kv("regime")
    await kv.put("forged", encode(COMMAND))
    exec_before, val_before = await _count(admin, "EXEC_CMD"), await _count(admin, "VALIDATION")
    for target in (EXEC_CMD_PAPER, subjects.val_report("x")):
        req = {"stream_name": "KV_regime", "config": {
            "deliver_subject": target, "ack_policy": "none", "deliver_policy": "all",
            "filter_subject": "$KV.regime.forged"}}
        resp = await regime.nc.request("$JS.API.CONSUMER.CREATE.KV_regime",
                                       json.dumps(req).encode(), timeout=2)
        assert "error" not in json.loads(resp.data), resp.data  # the server takes it
    for user in perm.USERS:  # and nobody can give the exec.cmd one a subscriber
        bus = await connect_as(user)
        await _refused(bus, EXEC_CMD_PAPER, lambda: bus.nc.subscribe(EXEC_CMD_PAPER))

    async def relayed() -> bool:
        return await _count(admin, "VALIDATION") > val_before

    await eventually(relayed, timeout=10, what="the research relay to be stored")
    assert await _count(admin, "EXEC_CMD") == exec_before
    await heard.unsubscribe()


async def test_risk_down_means_intents_wait_and_no_command_exists(connect_as):
    """With permissions, nothing but risk can put a command on exec.cmd: an operator intent
    waits on ORDERS until risk is back."""
    admin = await connect_as("admin")
    operator = await connect_as("operator")
    execution = await connect_as("execution_live")
    exec_before = await _count(admin, "EXEC_CMD")
    intent = msgspec.structs.replace(EXAMPLES["OrderIntent"], intent_id="perm-wait-1",
                                     strategy_id="operator", account="live")
    await operator.publish_durable(subjects.order_intent("live", "operator"), intent,
                                   msg_id=intent.intent_id)
    sub = await execution.js.pull_subscribe(
        subjects.exec_cmd("live", "*"), durable="execution_live", stream="EXEC_CMD",
        config=ConsumerConfig(durable_name="execution_live", ack_policy=AckPolicy.EXPLICIT,
                              filter_subject=subjects.exec_cmd("live", "*")))
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=0.5)
    await sub.unsubscribe()
    assert await _count(admin, "EXEC_CMD") == exec_before
    info = await admin.js.stream_info("ORDERS", subjects_filter=subjects.order_intent("live", "*"))
    assert subjects.order_intent("live", "operator") in (info.state.subjects or {})
    assert stream_for(subjects.order_intent("live", "operator")) == "ORDERS"
    assert not operator.refusals and not execution.refusals
    assert exec_bucket("live") in KV_BUCKETS


async def test_the_execution_zone_joins_as_a_leaf_and_carries_only_its_permissions(tmp_path):
    """hub.conf and leaf.conf as rendered: the live execution agent, connected to the leaf,
    binds its consumer on the hub's EXEC_CMD through the link, receives risk's command, reports
    its fill and writes its bucket; from the zone nothing else gets in."""
    from bus.broker import EmbeddedBroker, free_port
    from bus.credentials import load_or_create
    from bus.jetstream import provision

    creds = load_or_create(tmp_path)
    leaf_port = free_port()
    hub_conf = tmp_path / "hub.conf"
    hub_conf.write_text(perm.render_hub(store_dir=str(tmp_path / "js"), listen=None, http=None,
                                        leaf_listen=f"127.0.0.1:{leaf_port}", header=False))
    leaf_conf = tmp_path / "leaf.conf"
    leaf_conf.write_text(perm.render_leaf(listen=None, header=False))
    live = perm.LEAF_USER
    pw = creds.password(live).reveal()
    leaf_env = {perm.password_env(live): pw,
                perm.LEAF_URL_ENV: f"nats-leaf://{live}:{pw}@127.0.0.1:{leaf_port}"}

    def opts(url: str, user: str, domain: str = "") -> ConnectOptions:
        return ConnectOptions(url=url, name=user, user=user,
                              password=creds.password(user).reveal(), initial_attempts=3,
                              request_timeout_s=2.0, js_domain=domain)

    with EmbeddedBroker(store_dir=tmp_path / "js", config_file=hub_conf,
                        env=creds.broker_env(), name="hub") as hub, \
            EmbeddedBroker(store_dir=tmp_path / "leafjs", config_file=leaf_conf, env=leaf_env,
                           name="leaf") as leaf:
        admin = await Bus.connect(opts(hub.url, "admin"))
        await provision(admin.js)
        risk = await Bus.connect(opts(hub.url, "risk"))
        execution = await Bus.connect(opts(leaf.url, live, perm.JS_DOMAIN))
        config = ConsumerConfig(durable_name=live, ack_policy=AckPolicy.EXPLICIT,
                                filter_subject=subjects.exec_cmd("live", "*"))

        async def bound():  # the link takes a moment; until then the API has no responder
            try:
                return await execution.js.pull_subscribe(
                    config.filter_subject, durable=live, stream="EXEC_CMD", config=config)
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError,
                    nats.js.errors.ServiceUnavailableError):
                return None

        sub = await eventually(bound, timeout=20, what="the leaf link to carry the JS API")
        command = msgspec.structs.replace(COMMAND, account="live", command_id="cmd-leaf-1")
        await risk.publish_durable(subjects.exec_cmd("live", "BTC"), command, msg_id="leaf-1")
        msgs = await sub.fetch(1, timeout=5)
        assert msgs[0].subject == subjects.exec_cmd("live", "BTC")
        await msgs[0].ack()
        fill = msgspec.structs.replace(EXAMPLES["OrderFilled"], account="live")
        ack = await execution.publish_durable(subjects.exec_event("live", "filled", "BTC"),
                                              fill, msg_id="leaf-fill-1")
        assert ack.stream == "EXEC_EVENTS"
        kv = await execution.kv(exec_bucket("live"))
        await kv.put("order.cmd-leaf-1", b"filled")
        assert (await kv.get("order.cmd-leaf-1")).value == b"filled"
        assert (await (await admin.kv(exec_bucket("live"))).get("order.cmd-leaf-1")).value
        assert not execution.refusals

        async def acked() -> bool:  # the ack crossed the link
            info = await admin.js.consumer_info("EXEC_CMD", live)
            return info.ack_floor.stream_seq == 1 and info.num_ack_pending == 0

        await eventually(acked, what="the zone's ack to reach the hub")
        # from the zone: no command, no other account, no other bucket
        for subject in (subjects.exec_cmd("live", "BTC"), subjects.exec_event("paper", "filled",
                        "BTC"), "$KV.risk.state_live", subjects.ctl_resume()):
            await _refused(execution, subject, lambda: _request(execution, subject))
        await sub.unsubscribe()
        exec_before = await _count(admin, "EXEC_CMD")
        assert exec_before == 1
        for bus in (execution, risk, admin):
            await bus.drain()
