"""Who may do what on the bus: one table, rendered as the nats-server configuration.

The user's one hard promise is that no order reaches the venue without the risk agent's
approval, enforced by the broker, never by convention. Every process connects as its own user
(the agent's name); each user gets an allow-list of what it may publish, subscribe, which
JetStream durable consumers it may create, bind, fetch from and ack, and which KV buckets it may
read or write. Everything not listed is refused by nats-server with a "Permissions Violation".

`PRINCIPALS` below is the table; `render_hub()` turns it into `deploy/nats/hub.conf` (checked
in, kept equal to the rendered text by tests/bus/test_permissions.py) and into the config of
`organism up`'s embedded broker, and `render_leaf()` into `deploy/nats/leaf.conf` (the execution
zone). Regenerate the files after changing the table:

    .venv/bin/python -m bus.permissions

What the grants mean in nats-server subjects (nats-py 2.16 against nats-server 2.15, checked
against a trace of the client's protocol):
- a durable (stream S, name D): `$JS.API.CONSUMER.INFO.S.D`, `...CONSUMER.CREATE.S.D[.filter]`
  (and the older `...CONSUMER.DURABLE.CREATE.S.D`), `...CONSUMER.MSG.NEXT.S.D` (fetch), and the
  acks `$JS.ACK.S.D.>` (ack, nak, term: the reply subjects of the delivered messages);
- reading a stream or a KV bucket (stream KV_B): `$JS.API.STREAM.INFO.S`, a message by subject or
  sequence (`...STREAM.MSG.GET.S`, `...DIRECT.GET.S[.subject]`), watchers (ordered push
  consumers: `...CONSUMER.CREATE.S` without a name, `...CONSUMER.INFO.S.*`, flow control
  replies `$JS.FC.S.>`);
- writing a KV bucket B: publishing on `$KV.B.>` (put, create, update, delete all publish there);
- a publish to a stored subject is a request whose PubAck comes back to the publisher's inbox;
- every user's replies arrive on its own inbox prefix `_INBOX_{user}.>` (bus.connection sets
  it), so no user reads another's replies (deliveries of its consumer, KV values, PubAcks);
- a service that answers requests (`responds`) may publish once to each received reply subject
  (nats-server's allow_responses), nothing more;
- nobody holds a core subscription on an order-path subject or a KV key: those are read through
  consumers (ORDER_PATH_STREAMS below says why: a consumer's deliver subject is not checked).
Only `admin` (used by `organism up` to provision) may touch streams and buckets themselves.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bus import subjects as s
from bus.jetstream import KV_BUCKETS, STREAMS, exec_bucket
from bus.subjects import ANY

ACCOUNTS = ("paper", "live")
INBOX_PREFIX = "_INBOX_"  # + user: each user's own reply subjects
ADMIN = "admin"
OPERATOR = "operator"
LEAF_ACCOUNT = "live"  # the account whose execution process may live in the execution zone
LEAF_USER = f"execution_{LEAF_ACCOUNT}"  # the zone's leaf-node link authenticates as that process
JS_DOMAIN = "hub"  # the hub's JetStream domain: the zone reaches it as $JS.hub.API through the link
LEAF_URL_ENV = "ORGANISM_HUB_LEAF_URL"  # nats-leaf://execution_live:<password>@<hub host>:7422

ROOT = Path(__file__).resolve().parents[1]
HUB_CONF = ROOT / "deploy" / "nats" / "hub.conf"
LEAF_CONF = ROOT / "deploy" / "nats" / "leaf.conf"


@dataclass(frozen=True)
class Durable:
    """A JetStream durable consumer: the principal creates it, binds to it, fetches and acks."""

    stream: str
    name: str


@dataclass(frozen=True)
class Principal:
    """One NATS user and everything it may do. Subjects come from the catalogue (bus.subjects)."""

    name: str
    why: str  # one line for hub.conf: who connects as this user
    publish: tuple[str, ...] = ()  # core and stored subjects (patterns allowed)
    publish_except: tuple[str, ...] = ()  # exceptions carved out of `publish`
    subscribe: tuple[str, ...] = ()  # core subscriptions (queue groups included)
    durables: tuple[Durable, ...] = ()
    kv_write: tuple[str, ...] = ()  # buckets it writes (and reads)
    kv_read: tuple[str, ...] = ()
    streams_read: tuple[str, ...] = ()  # stream info, messages by subject, watchers
    responds: bool = False  # answers requests it receives (eval.batch, sys.warehouse.query)
    agent: bool = True  # runs in the agent runtime: heartbeat, dead letters, replay clock
    jetstream_admin: bool = False  # creates and changes streams, buckets and consumers

    @property
    def inbox(self) -> str:
        return inbox_for(self.name)


def inbox_for(user: str) -> str:
    """The inbox prefix of a user's connection: its replies arrive on `{prefix}.>` only."""
    return f"{INBOX_PREFIX}{user}"


def _durables(name: str, *streams: str) -> tuple[Durable, ...]:
    """The principal's durable named after itself on each stream (the house convention)."""
    return tuple(Durable(stream, name) for stream in streams)


ALL_BUCKETS = tuple(KV_BUCKETS)
ALL_STREAMS = tuple(spec.name for spec in STREAMS)
EXEC_BUCKETS = tuple(exec_bucket(a) for a in ACCOUNTS)

# The order path is read only through JetStream consumers delivering to the reader's own inbox,
# never by a core subscription. The reason: nats-server checks no permission on a push
# consumer's deliver subject, so any user who may create a consumer (every KV watcher may) could
# have a stream's messages (its own KV values, say) delivered onto exec.cmd.paper.BTC, and
# EXEC_CMD would store them. The server delivers only while a client holds an exact (not a
# wildcard) subscription on that subject; with these allow-lists nobody can hold one on an
# order-path subject or a KV key. Research subjects may be heard on core (a forged report or
# candle cannot move money past risk). tests/bus/test_permissions.py tries the relay.
ORDER_PATH_STREAMS = ("ORDERS", "EXEC_CMD", "EXEC_EVENTS", "CONTROL")
CANDLES = s.md_candle(ANY, ANY)
MARKET = (CANDLES, s.md_book(ANY), s.md_trade(ANY), s.md_ctx(ANY), s.md_status())
RESEARCH = (s.evo_candidate(), s.evo_progress(), s.val_report(ANY), s.life_event(ANY),
            s.life_deathreport(ANY), s.regime_state(ANY), s.alloc_target())
RISK_OUT = (s.risk_decision(ANY, ANY), s.risk_state(ANY), s.risk_deactivate(ANY),
            s.risk_flatten(ANY))
# What an observer (dashboard, `organism status` / `tail`) may hear on core NATS.
OBSERVE: tuple[str, ...] = (
    s.md_all(), *RESEARCH, s.exec_status(ANY), s.sys_heartbeat(ANY), s.sys_deadletter(ANY),
    s.sys_clock(),
)  # fmt: skip


def protected_subjects() -> tuple[str, ...]:
    """What no user may subscribe to on core NATS: the order path's stored subjects, the KV
    buckets, the JetStream API."""
    return tuple(x for spec in STREAMS if spec.name in ORDER_PATH_STREAMS
                 for x in spec.subjects) + ("$KV.>", "$JS.>")


def _execution(account: str) -> Principal:
    name = f"execution_{account}"
    return Principal(
        name,
        f"`organism agent execution --account {account}`: the only consumer of the {account} "
        "account's commands, the only writer of its events, positions and KV bucket",
        publish=(s.exec_event(account, ANY, ANY), s.exec_position(account, ANY),
                 s.exec_account(account), s.exec_status(account)),
        subscribe=(s.md_book(ANY), s.md_ctx(ANY)),
        durables=(Durable("EXEC_CMD", name),),
        kv_write=(exec_bucket(account),),
    )


PRINCIPALS: tuple[Principal, ...] = (
    Principal(
        "market_data", "the market-data agent: md.* and, in replay, the clock",
        publish=(s.md_all(), s.sys_clock()),
        streams_read=("CANDLES",),  # the last stored candle; replay paces by consumer info
    ),
    Principal(
        "evolution", "the evolution agent: candidates and progress, batches to evaluators",
        publish=(s.evo_candidate(), s.evo_progress(), s.eval_batch()),
        subscribe=(CANDLES, *RESEARCH),
        durables=_durables("evolution", "LIFECYCLE"),
        kv_read=("regime", "registry"),
    ),
    Principal(
        "evaluator", "evaluation workers (queue group on eval.batch), on any machine",
        subscribe=(s.eval_batch(),),
        responds=True,
    ),
    Principal(
        "validation", "the validation agent: reports; enters passing strategies in the registry",
        publish=(s.val_report(ANY), s.life_event(ANY)),  # life.event: bus.registry's moves
        subscribe=RESEARCH,
        durables=_durables("validation", "EVOLUTION"),
        kv_write=("registry",),
    ),
    Principal(
        "lifecycle", "the lifecycle agent: stages and flags in the registry, death reports",
        publish=(s.life_event(ANY), s.life_deathreport(ANY)),
        subscribe=MARKET + RESEARCH,
        durables=_durables("lifecycle", "VALIDATION", "LIFECYCLE", "ORDERS", "EXEC_EVENTS"),
        kv_write=("registry",),
        kv_read=ALL_BUCKETS,
    ),
    Principal(
        "regime", "the regime agent: regime states",
        publish=(s.regime_state(ANY),),
        subscribe=MARKET + RESEARCH,
        durables=_durables("regime", "CANDLES"),
        kv_write=("regime",),
    ),
    Principal(
        "allocation", "the allocation agent: allocation targets",
        publish=(s.alloc_target(),),
        subscribe=MARKET + RESEARCH,
        durables=_durables("allocation", "LIFECYCLE", "REGIME", "EXEC_EVENTS", "ORDERS"),
        kv_write=("allocations",),
        kv_read=ALL_BUCKETS,
    ),
    Principal(
        "trader", "the trader: intents of strategies (never the operator's), virtual positions",
        publish=(s.order_intent(ANY, ANY),),
        publish_except=(s.order_intent(ANY, "operator"),),
        subscribe=MARKET + RESEARCH,
        durables=_durables("trader", "CANDLES", "ALLOCATION", "ORDERS", "EXEC_EVENTS",
                           "CONTROL", "LIFECYCLE"),
        kv_write=("trader",),
        kv_read=ALL_BUCKETS,
        streams_read=("EXEC_EVENTS",),  # the last AccountReport per account at a first start
    ),
    Principal(
        "risk", "the risk agent: the only publisher of exec.cmd.> and risk.>, its own state",
        publish=(s.exec_cmd(ANY, ANY), *RISK_OUT),
        subscribe=MARKET + RESEARCH + (s.exec_status(ANY), s.sys_heartbeat(ANY)),
        durables=_durables("risk", "ORDERS", "CONTROL", "EXEC_EVENTS"),
        kv_write=("risk", "risk_decisions"),
        kv_read=ALL_BUCKETS,
        streams_read=("ALLOCATION", "CANDLES"),  # the last target and candle at start
    ),
    _execution("paper"),
    _execution("live"),
    Principal(
        "recorder", "the recorder: every stream into the warehouse; answers organism sql",
        subscribe=(s.sys_warehouse_query(),),
        durables=_durables("recorder", *ALL_STREAMS),
        responds=True,
    ),
    Principal(
        "dashboard", "the dashboard: reads everything, writes nothing",
        publish=(s.sys_warehouse_query(),),
        subscribe=OBSERVE,
        kv_read=ALL_BUCKETS,
        streams_read=ALL_STREAMS,
    ),
    Principal(
        OPERATOR,
        "the CLI (status, tail, sql, kill, resume, order as strategy `operator`, strategy "
        "add/pause/retire): the only publisher of ctl.*",
        # evo.candidate: `organism strategy add` hands a user's strategy to validation
        publish=(s.ctl_all(), s.order_intent(ANY, "operator"), s.sys_warehouse_query(),
                 s.life_event(ANY), s.evo_candidate()),
        subscribe=OBSERVE,  # `organism tail` reads stored subjects through consumers
        kv_write=("registry",),
        kv_read=ALL_BUCKETS,
        streams_read=ALL_STREAMS,
        agent=False,
    ),
    Principal(
        ADMIN, "`organism up` / `organism nats`: provisions streams and buckets, nothing else",
        agent=False,
        jetstream_admin=True,
    ),
)
BY_NAME: dict[str, Principal] = {p.name: p for p in PRINCIPALS}
USERS: tuple[str, ...] = tuple(BY_NAME)


# --- what the grants mean in nats-server subjects ----------------------------------------------
def _durable_api(d: Durable) -> list[str]:
    api = "$JS.API.CONSUMER"
    return [
        f"{api}.INFO.{d.stream}.{d.name}",
        f"{api}.CREATE.{d.stream}.{d.name}",
        f"{api}.CREATE.{d.stream}.{d.name}.>",  # with a filter subject
        f"{api}.DURABLE.CREATE.{d.stream}.{d.name}",
        f"{api}.MSG.NEXT.{d.stream}.{d.name}",
        f"$JS.ACK.{d.stream}.{d.name}.>",
    ]


def _stream_read_api(stream: str) -> list[str]:
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.CONSUMER.CREATE.{stream}",  # an unnamed ordered consumer (watchers)
        f"$JS.API.CONSUMER.INFO.{stream}.*",
        f"$JS.FC.{stream}.>",
    ]


def kv_stream(bucket: str) -> str:
    return f"KV_{bucket}"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class NatsPermissions:
    """One user's permissions in nats-server's terms."""

    publish_allow: list[str] = field(default_factory=list)
    publish_deny: list[str] = field(default_factory=list)
    subscribe_allow: list[str] = field(default_factory=list)
    allow_responses: bool = False


def nats_permissions(p: Principal) -> NatsPermissions:
    pub: list[str] = []
    if p.jetstream_admin:  # streams and buckets, and removing a consumer; never fetching or acking
        pub += ["$JS.API.INFO", "$JS.API.STREAM.>", "$JS.API.CONSUMER.INFO.>",
                "$JS.API.CONSUMER.NAMES.>", "$JS.API.CONSUMER.LIST.>",
                "$JS.API.CONSUMER.DELETE.>"]
    pub += p.publish
    if p.agent:
        pub += [s.sys_heartbeat(p.name), s.sys_deadletter(p.name)]
    for bucket in p.kv_write:
        pub.append(f"$KV.{bucket}.>")
    for d in p.durables:
        pub += _durable_api(d)
    for stream in _unique([*p.streams_read, *map(kv_stream, _unique([*p.kv_write, *p.kv_read]))]):
        pub += _stream_read_api(stream)
    deny = list(p.publish_except)
    if p.name == LEAF_USER:
        pub, deny = _through_the_link(p, pub, deny)
    sub = [*p.subscribe, f"{p.inbox}.>"]
    if p.agent:
        sub.append(s.sys_clock())  # the replay clock every agent follows
    return NatsPermissions(
        publish_allow=_unique(pub),
        publish_deny=_unique(deny),
        subscribe_allow=_unique(sub),
        allow_responses=p.responds,
    )


def _through_the_link(p: Principal, pub: list[str], deny: list[str]) -> tuple[list, list]:
    """The execution zone's user works through the leaf link too, which needs three more forms
    of the same grants (nats-server 2.15, tried in tests/bus/test_permissions.py):
    - the JetStream API under the hub's domain ($JS.hub.API...), and KV writes through it
      ($JS.hub.API.$KV.bucket.key: the hub forwards no $KV interest to a leaf);
    - the hub tells the leaf about a stream's subscription (exec.event.*.*.*) only if the link
      may publish on a pattern at least as wide: a literal account followed by a wildcard
      (exec.event.live.*.*) does not count. So the link gets the streams' own patterns and
      every other account's subjects denied, which allows exactly the same subjects."""
    pub = pub + [x.replace("$JS.API.", f"$JS.{JS_DOMAIN}.API.", 1) for x in pub
                 if x.startswith("$JS.API.")]
    pub += [f"$JS.{JS_DOMAIN}.API.$KV.{bucket}.>" for bucket in p.kv_write]
    for allowed in list(p.publish):
        for wider in stored_subjects():
            if wider != allowed and matches(wider, allowed) and "$" not in wider:
                pub.append(wider)
    for other in PRINCIPALS:
        if other.name != p.name and other.name.startswith("execution_"):
            deny += other.publish
    return pub, deny


# --- subject patterns ------------------------------------------------------------------------------
def intersect(a: str, b: str) -> str | None:
    """The subjects two NATS patterns both match, as one pattern, or None when they share none
    (`intersect("order.>", "order.intent.*.*") == "order.intent.*.*"`)."""
    ta, tb = a.split("."), b.split(".")
    out: list[str] = []
    for i in range(max(len(ta), len(tb))):
        x = ta[i] if i < len(ta) else None
        y = tb[i] if i < len(tb) else None
        if x == ">":
            return ".".join(out + tb[i:]) if y is not None else None
        if y == ">":
            return ".".join(out + ta[i:]) if x is not None else None
        if x is None or y is None:
            return None
        if x == "*":
            out.append(y)
        elif y == "*" or x == y:
            out.append(x)
        else:
            return None
    return ".".join(out)


def matches(pattern: str, subject: str) -> bool:
    """Does the pattern cover every subject the other covers (a literal: does it match it)?"""
    return intersect(pattern, subject) == subject


def may_publish(user: str, subject: str) -> bool:
    """What nats-server decides for a publish of `user` on the literal `subject`."""
    perms = nats_permissions(BY_NAME[user])
    return (any(matches(a, subject) for a in perms.publish_allow)
            and not any(matches(d, subject) for d in perms.publish_deny))


def may_subscribe(user: str, subject: str) -> bool:
    """What nats-server decides for a subscription of `user` on `subject`."""
    return any(matches(a, subject) for a in nats_permissions(BY_NAME[user]).subscribe_allow)


def stored_subjects() -> tuple[str, ...]:
    """Every subject a stream stores (the KV buckets' included)."""
    return tuple(x for spec in STREAMS for x in spec.subjects) + ("$KV.>",)


def password_env(user: str) -> str:
    """The environment variable hub.conf reads a user's password from."""
    return f"ORGANISM_NATS_{user.upper()}_PASSWORD"


# --- rendering -----------------------------------------------------------------------------------
def _quote(subject: str) -> str:
    return '"' + subject.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _list(key: str, items: list[str], indent: str) -> list[str]:
    if not items:
        return []
    inner = indent + "  "
    return [f"{indent}{key}: [", *(f"{inner}{_quote(x)}" for x in items), f"{indent}]"]


def _permissions_block(perms: NatsPermissions, indent: str) -> list[str]:
    i1, i2 = indent + "  ", indent + "    "
    lines = [f"{indent}permissions: {{", f"{i1}publish: {{"]
    lines += _list("allow", perms.publish_allow, i2) or [f"{i2}allow: []"]
    lines += _list("deny", perms.publish_deny, i2)
    lines += [f"{i1}}}", f"{i1}subscribe: {{"]
    lines += _list("allow", perms.subscribe_allow, i2)
    lines += [f"{i1}}}"]
    if perms.allow_responses:
        lines.append(f"{i1}allow_responses: true")
    lines.append(f"{indent}}}")
    return lines


def _user_block(user: str, why: str, perms: NatsPermissions, indent: str) -> list[str]:
    i1 = indent + "  "
    return [
        *textwrap.wrap(why, 98 - len(indent), initial_indent=f"{indent}# ",
                       subsequent_indent=f"{indent}# "),
        f"{indent}{{",
        f"{i1}user: {user}",
        f"{i1}password: ${password_env(user)}",
        *_permissions_block(perms, i1),
        f"{indent}}}",
    ]


GENERATED = """\
# Generated by `.venv/bin/python -m bus.permissions` from the table in bus/permissions.py: change
# the table, not this file (tests/bus/test_permissions.py keeps the two equal)."""
HUB_HEADER = f"""\
# The hub: JetStream, one user per process, allow-lists only. Only `risk` publishes exec.cmd.> and
# risk.*; only execution_{{account}} binds that account's command consumer and writes its events;
# only the operator publishes ctl.*; only admin creates or changes streams and buckets; nobody
# holds a core subscription on the order path (bus/permissions.py says why).
# Passwords come from the environment, never from this file: {password_env("<USER>")}
# for each user below (nats-server resolves the $VARS; `organism up` generates them itself).
# Run: nats-server -c deploy/nats/hub.conf, then provision once as admin: `organism up` with
# nats.url set to this hub and the passwords in its environment does it, and gives each agent its
# own. An agent started by hand: ORGANISM__NATS__URL, ORGANISM_NATS_PASSWORD=<its password>,
# ORGANISM__JETSTREAM__PROVISION=false."""
LEAF_LINK_COMMENT = f"""\
# The execution zone joins as a leaf node (deploy/nats/leaf.conf) and reaches this JetStream
# through the domain above. With no authorization block here, the link logs in as {LEAF_USER}
# and carries no more than that user may do: what it may publish enters the hub, what it may
# subscribe leaves for the zone."""
LEAF_HEADER = f"""\
# The execution zone (behind the VPN): a leaf node of the hub, without JetStream of its own (the
# hub's serves it through the link, domain {JS_DOMAIN}). The live execution agent connects here as
# {LEAF_USER}, the only local user; the link carries its commands in and its events, positions
# and KV writes out, and nothing else. The trading key lives only in this zone's environment.
# Run: nats-server -c deploy/nats/leaf.conf with {password_env(LEAF_USER)} and
# {LEAF_URL_ENV}=nats-leaf://{LEAF_USER}:<the same password>@<hub host>:7422 (one value:
# nats-server expands no $VAR inside a quoted string). The agent: `organism agent execution
# --account {LEAF_ACCOUNT}` with ORGANISM__NATS__URL=nats://127.0.0.1:4223, ORGANISM_NATS_PASSWORD=<its
# password>, ORGANISM__JETSTREAM__PROVISION=false, ORGANISM__JETSTREAM__DOMAIN={JS_DOMAIN}."""


def render_authorization(indent: str = "") -> list[str]:
    """The `authorization { users = [...] }` block: every principal, passwords from $VARS."""
    i1, i2 = indent + "  ", indent + "    "
    lines = [f"{indent}authorization {{", f"{i1}users = ["]
    for p in PRINCIPALS:
        lines += _user_block(p.name, p.why, nats_permissions(p), i2)
    lines += [f"{i1}]", f"{indent}}}"]
    return lines


def render_hub(
    *,
    store_dir: str = "data/nats",
    listen: str | None = "127.0.0.1:4222",
    http: str | None = "127.0.0.1:8222",
    leaf_listen: str | None = "0.0.0.0:7422",
    header: bool = True,
) -> str:
    """hub.conf's text (the defaults), or the embedded broker's (listen and http None: the
    broker's command line gives them; leaf_listen None: no execution zone)."""
    lines: list[str] = []
    if header:
        lines += [GENERATED, HUB_HEADER, "", "server_name: organism-hub"]
    if listen:
        lines.append(f"listen: {listen}")
    if http:
        lines.append(f"http: {http}")
    lines += ["", "jetstream {", f"  store_dir: {_quote(store_dir)}"]
    if leaf_listen:  # a leaf without JetStream reaches the hub's through its domain only
        lines.append(f"  domain: {JS_DOMAIN}")
    lines += ["}", ""]
    if leaf_listen:
        lines += [
            LEAF_LINK_COMMENT,
            "leafnodes {",
            f"  listen: {leaf_listen}",
            "}",
            "",
        ]
    lines += render_authorization()
    return "\n".join(lines) + "\n"


def render_leaf(*, listen: str | None = "127.0.0.1:4223", header: bool = True) -> str:
    """leaf.conf: the execution zone's server. Its one local user is the zone's execution
    process with the same permissions as on the hub; the link to the hub carries no more."""
    p = BY_NAME[LEAF_USER]
    lines: list[str] = []
    if header:
        lines += [GENERATED, LEAF_HEADER, "", "server_name: organism-exec-leaf"]
    if listen:
        lines.append(f"listen: {listen}")
    lines += [
        "",
        "leafnodes {",
        "  remotes = [",
        f"    {{ url: ${LEAF_URL_ENV} }}",
        "  ]",
        "}",
        "",
        "authorization {",
        "  users = [",
        *_user_block(p.name, p.why, nats_permissions(p), "    "),
        "  ]",
        "}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write deploy/nats/hub.conf and leaf.conf from the table (or check them with --check)."""
    args = sys.argv[1:] if argv is None else argv
    stale = []
    for path, text in ((HUB_CONF, render_hub()), (LEAF_CONF, render_leaf())):
        if path.exists() and path.read_text() == text:
            continue
        if "--check" in args:
            stale.append(path)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date: " + ", ".join(str(p.relative_to(ROOT)) for p in stale)
              + " (run `.venv/bin/python -m bus.permissions`)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
