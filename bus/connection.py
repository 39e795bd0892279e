"""The typed bus: a named NATS connection that speaks schemas, counts everything, loses nothing.

- `publish` (core NATS) and `publish_durable` (JetStream with `Nats-Msg-Id`, waits for the ack);
- `subscribe` (core, optional queue group; a handler that returns a message answers a request);
- `request` (typed request/reply);
- `consume` (a JetStream durable pull consumer with explicit ack; several processes may share it);
- a message that fails to decode or validate goes to `sys.deadletter.{agent}` and is counted;
  a handler that keeps failing is dead-lettered after `max_deliver` attempts.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import nats
from loguru import logger
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, PubAck
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from bus import subjects
from bus.codec import DecodeFailure, decode, decoder, encode
from bus.jetstream import stream_for
from bus.log import log_failure
from bus.metrics import AgentMetrics, Family
from bus.permissions import inbox_for
from schemas import AnyMessage, DeadLetter, Message

MSG_ID = "Nats-Msg-Id"
_encode = msgspec.json.Encoder().encode  # bus.codec.encode without the call around it
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)
_SUBJECTS_KEPT = 65536  # per-subject caches are cleared beyond this many subjects
PERMISSIONS_VIOLATION = "permissions violation"
AUTH_VIOLATION = "authorization violation"


@dataclass(slots=True)
class Delivery:
    """A received message with its transport facts."""

    message: Any
    subject: str
    headers: dict[str, str]
    reply: str = ""
    stream_seq: int = 0  # JetStream stream sequence (0 for core NATS)
    num_delivered: int = 1


Handler = Callable[[Delivery], Awaitable[Message | None]]
BatchHandler = Callable[[list[Delivery]], Awaitable[None]]


@dataclass
class ConnectOptions:
    url: str
    name: str
    connect_timeout_s: float = 2.0
    reconnect_wait_s: float = 1.0
    request_timeout_s: float = 5.0
    drain_timeout_s: float = 10.0
    creds_file: str = ""
    token: str | None = None
    user: str | None = None
    password: str | None = None
    initial_attempts: int = 0  # 0: keep trying forever
    js_domain: str = ""  # the hub's JetStream domain, when reached through a leaf node


# A consumer keeps one pull request waiting at the broker (nats.go's Consume() does the same),
# topped up when half of it is used, instead of a fetch round per batch: a message is delivered
# as soon as it is stored, and the broker and the agent exchange no request per batch.
PULL_EXPIRES_S = 20.0  # each waiting request's life (the broker then says 408 and we ask again)
PULL_HEARTBEAT_S = 2.0  # the broker's idle heartbeat on a waiting request
PULL_SILENCE_S = 3 * PULL_HEARTBEAT_S + 1.0  # no heartbeat for this long: ask again
_WAKE = object()  # put on a consumer's queue to make it look at its flags


@dataclass
class _Consumer:
    task: asyncio.Task
    subscription: Any
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    ask_again: bool = False  # the waiting request may be gone (a reconnect)


class Bus:
    def __init__(
        self, nc: NATS, agent: str, metrics: AgentMetrics | None, request_timeout_s: float,
        js_domain: str = "",
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream(timeout=request_timeout_s, domain=js_domain or None)
        self.js_domain = js_domain
        self.agent = agent
        self.metrics = metrics or AgentMetrics(agent)
        self.request_timeout_s = request_timeout_s
        self._consumers: list[_Consumer] = []
        self._dead_subject = subjects.sys_deadletter(agent)
        # subject -> its family's counts, looked up once per subject (the hot path)
        self._families: dict[str, Family] = {}
        # request subjects already checked (publishable, not stored by a stream)
        self._request_ok: dict[str, Family] = {}
        # The broker's "Permissions Violation" refusals seen on this connection, newest last.
        self.refusals: deque[str] = deque(maxlen=100)

    # --- connection ---------------------------------------------------------------------------
    @classmethod
    async def connect(cls, opts: ConnectOptions, metrics: AgentMetrics | None = None) -> "Bus":
        """Connect (retrying with backoff until the server answers), reconnect forever after."""
        agent = opts.name
        refusals: deque[str] = deque(maxlen=100)
        refused_login: list[str] = []

        async def on_error(exc: Exception) -> None:
            text = str(exc)
            if PERMISSIONS_VIOLATION in text.lower():  # nats-py lowercases the server's text
                # The broker refused a publish or subscription this user may not make
                # (bus/permissions.py): a bug or a misconfiguration, never routine.
                refusals.append(text)
                if bus is not None:
                    bus.metrics.error("permission")
                logger.error("the broker refused {} as user {!r}: {}; its permissions are in "
                             "bus/permissions.py", agent, opts.user or "(anonymous)", text)
                return
            if isinstance(exc, nats.errors.AuthorizationError) or AUTH_VIOLATION in text.lower():
                refused_login.append(text)
            logger.warning("nats error: {}", exc)

        async def on_disconnect() -> None:
            if nc is not None and not (nc.is_draining or nc.is_closed):  # not our own drain
                logger.warning("disconnected from NATS; reconnecting")

        async def on_reconnect() -> None:
            logger.info("reconnected to NATS at {}", nc.connected_url.netloc if nc else "?")
            if bus is not None:  # the broker may have forgotten the waiting pull requests
                for c in bus._consumers:
                    c.ask_again = True
                    c.queue.put_nowait(_WAKE)

        kwargs: dict[str, Any] = dict(
            servers=[opts.url],
            name=opts.name,
            connect_timeout=opts.connect_timeout_s,
            reconnect_time_wait=opts.reconnect_wait_s,
            # Finite for the first connect (nats-py would loop inside connect() forever; our own
            # loop below retries with backoff), then forever once connected.
            max_reconnect_attempts=1,
            allow_reconnect=True,
            drain_timeout=opts.drain_timeout_s,
            error_cb=on_error,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
        )
        if opts.creds_file:
            kwargs["user_credentials"] = opts.creds_file
        if opts.token:
            kwargs["token"] = opts.token
        if opts.user:
            kwargs["user"], kwargs["password"] = opts.user, opts.password
            # Replies (PubAcks, KV values, consumer deliveries) on this user's own prefix: the
            # broker lets each user read only its own (bus/permissions.py).
            kwargs["inbox_prefix"] = inbox_for(opts.user)
        delay, attempt = 0.2, 0
        nc: NATS | None = None
        bus: Bus | None = None
        while True:
            attempt += 1
            try:
                nc = await nats.connect(**kwargs)
                nc.options["max_reconnect_attempts"] = -1
                break
            except (OSError, asyncio.TimeoutError, nats.errors.Error) as exc:
                if refused_login or isinstance(exc, nats.errors.AuthorizationError) or (
                        AUTH_VIOLATION in str(exc).lower()):
                    raise ConnectionError(_refused_login(opts)) from None
                if not isinstance(exc, (OSError, asyncio.TimeoutError,
                                        nats.errors.NoServersError)):
                    raise
                if opts.initial_attempts and attempt >= opts.initial_attempts:
                    raise ConnectionError(
                        f"cannot reach NATS at {opts.url} after {attempt} attempts ({exc}); "
                        "start the broker (`organism nats`) or fix nats.url"
                    ) from None
                logger.warning("NATS at {} not reachable ({}); retrying in {:.1f} s", opts.url, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        bus = cls(nc, agent, metrics, opts.request_timeout_s, opts.js_domain)
        bus.refusals = refusals
        return bus

    def _counts(self, subject: str) -> Family:
        """The counts of `subject`'s family, from a per-subject cache."""
        fam = self._families.get(subject)
        if fam is None:
            if len(self._families) >= _SUBJECTS_KEPT:
                self._families.clear()
            fam = self._families[subject] = self.metrics.family(subjects.family(subject))
        return fam

    @property
    def is_connected(self) -> bool:
        return self.nc.is_connected

    # --- publishing ---------------------------------------------------------------------------
    async def publish(
        self, subject: str, message: Message, headers: dict[str, str] | None = None
    ) -> None:
        """Core NATS publish: fire and forget (market data, heartbeats, progress)."""
        subjects.check_publishable(subject)
        await self.nc.publish(subject, _encode(message), headers=headers)
        self._counts(subject).n_out += 1

    async def publish_durable(
        self,
        subject: str,
        message: Message,
        *,
        msg_id: str,
        timeout: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> PubAck:
        """JetStream publish that waits for the store's ack. `msg_id` de-duplicates retries."""
        subjects.check_publishable(subject)
        hdrs = dict(headers or {})
        hdrs[MSG_ID] = msg_id
        ack = await self.js.publish(
            subject, _encode(message), headers=hdrs, timeout=timeout or self.request_timeout_s
        )
        self._counts(subject).n_out += 1
        return ack

    async def request(
        self,
        subject: str,
        message: Message,
        *,
        reply_type: Any = AnyMessage,
        timeout: float | None = None,
    ) -> Any:
        counts = self._request_ok.get(subject)
        if counts is None:
            counts = self._check_request(subject)
        resp = await self.nc.request(subject, _encode(message),
                                     timeout=timeout or self.request_timeout_s)
        counts.n_out += 1
        return decode(resp.data, reply_type)

    def _check_request(self, subject: str) -> Family:
        subjects.check_publishable(subject)
        stream = stream_for(subject)
        if stream is not None:
            # The stream would store the request and answer it with its own PubAck.
            raise subjects.SubjectError(
                f"cannot send a request on {subject!r}: JetStream stream {stream} stores that "
                "subject and would answer with a storage ack; use a core-NATS subject"
            )
        if len(self._request_ok) >= _SUBJECTS_KEPT:
            self._request_ok.clear()
        counts = self._request_ok[subject] = self._counts(subject)
        return counts

    # --- receiving ----------------------------------------------------------------------------
    async def subscribe(
        self,
        subject: str,
        handler: Handler,
        *,
        message_type: Any = AnyMessage,
        queue: str = "",
    ):
        """Core NATS subscription; handler(delivery) may return a reply message."""
        typed = decoder(message_type).decode  # looked up once, not per message
        metrics = self.metrics
        families = self._families
        counts_of = self._counts
        publish = self.nc.publish
        clock = time.perf_counter

        async def on_msg(msg: Msg) -> None:
            subject = msg.subject
            counts = families.get(subject) or counts_of(subject)
            counts.n_in += 1
            try:
                message = typed(msg.data)
            except _DECODE_ERRORS as exc:
                await self.dead_letter(msg, f"{type(exc).__name__}: {exc}")
                return
            started = clock()
            try:
                reply = await handler(Delivery(message, subject, msg.headers or {}, msg.reply))
                if reply is not None and msg.reply:
                    await publish(msg.reply, _encode(reply))
                    counts.n_out += 1
            except Exception as exc:
                metrics.error("handler")
                log_failure(exc, "handler for {} failed", subject)
            finally:
                counts.handled(clock() - started)

        return await self.nc.subscribe(subject, queue=queue, cb=on_msg)

    async def consume(
        self,
        stream: str,
        durable: str,
        handler: Handler | None = None,
        *,
        batch_handler: BatchHandler | None = None,
        filter_subject: str | None = None,
        filter_subjects: Sequence[str] = (),
        message_type: Any = AnyMessage,
        batch: int = 64,
        max_deliver: int = 5,
        ack_wait_s: float = 30.0,
        deliver_new: bool = False,
    ) -> None:
        """Durable pull consumer with explicit ack, shared by every process using `durable`.

        A message is acked only after its handler (or the batch handler for its batch) returned,
        so a crash or SIGTERM mid-way means redelivery, never loss: handlers must be idempotent
        (the stream sequence and `Nats-Msg-Id` are in the Delivery to de-duplicate on).

        `filter_subject` or `filter_subjects` (several, filtered by the broker: what the agent
        does not read is never delivered). A durable created earlier with other filters is
        updated to these (its place in the stream kept).
        """
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler or batch_handler")
        if filter_subject and filter_subjects:
            raise ValueError("give filter_subject or filter_subjects, not both")
        wanted = [filter_subject] if filter_subject else list(filter_subjects)
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait_s,
            max_deliver=max_deliver,
            deliver_policy=DeliverPolicy.NEW if deliver_new else DeliverPolicy.ALL,
            filter_subject=wanted[0] if len(wanted) == 1 else None,
            filter_subjects=wanted if len(wanted) > 1 else None,
        )
        await self._ensure_durable(stream, durable, config, wanted)
        consumer = _Consumer(task=None, subscription=None)  # type: ignore[arg-type]
        queue = consumer.queue

        async def arrived(msg: Msg) -> None:
            queue.put_nowait(msg)

        inbox = self.nc.new_inbox()
        consumer.subscription = await self.nc.subscribe(inbox, cb=arrived)
        api = f"$JS.{self.js_domain}.API" if self.js_domain else "$JS.API"
        pull = (f"{api}.CONSUMER.MSG.NEXT.{stream}.{durable}", inbox)
        consumer.task = asyncio.create_task(
            self._pull_loop(consumer, pull, handler, batch_handler, message_type, batch,
                            max_deliver),
            name=f"consume:{stream}:{durable}",
        )
        self._consumers.append(consumer)

    async def _ensure_durable(self, stream: str, durable: str, config: ConsumerConfig,
                              wanted: list[str]) -> None:
        """Create the durable, or update an existing one whose filters differ from `wanted` in
        place (the broker keeps its acknowledged floor and its deliver policy)."""
        try:
            info = await self.js.consumer_info(stream, durable)
        except NotFoundError:
            info = None
        if info is not None:
            have = info.config.filter_subjects or (
                [info.config.filter_subject] if info.config.filter_subject else [])
            if sorted(have) == sorted(wanted):
                return
            config.deliver_policy = info.config.deliver_policy
            logger.info("consumer {} on {}: filters {} -> {}", durable, stream, have or "none",
                        wanted or "none")
        config.name = durable
        await self.js.add_consumer(stream, config=config)

    async def _pull_loop(self, consumer: _Consumer, pull: tuple[str, str], handler,
                         batch_handler, message_type, batch: int, max_deliver: int) -> None:
        """Keep a pull request for `batch` messages waiting at the broker (topped up when half
        is used, asked again after a 408, a 409, a reconnect or a silence); hand what arrives
        to the handler, up to `batch` at a time."""
        next_subject, inbox = pull
        queue, stopping = consumer.queue, consumer.stopping
        outstanding = 0
        heard = time.monotonic()
        while not stopping.is_set():
            if consumer.ask_again:
                consumer.ask_again = False
                outstanding = 0
            if outstanding <= batch // 2:
                request = msgspec.json.encode({
                    "batch": batch - outstanding, "expires": int(PULL_EXPIRES_S * 1e9),
                    "idle_heartbeat": int(PULL_HEARTBEAT_S * 1e9)})
                try:
                    await self.nc.publish(next_subject, request, reply=inbox)
                except Exception as exc:  # connection trouble: the client reconnects; we wait
                    if stopping.is_set():
                        break
                    self.metrics.error("fetch")
                    logger.warning("pull request failed ({}); retrying", exc)
                    await asyncio.sleep(0.5)
                    continue
                outstanding = batch
                heard = time.monotonic()
            msgs: list[Msg] = []
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    async with asyncio.timeout(0.5):  # to see `stopping` and the silence
                        item = await queue.get()
                except TimeoutError:
                    if time.monotonic() - heard > PULL_SILENCE_S:  # no heartbeat: ask again
                        outstanding = 0
                    continue
            refused = False
            while True:
                if item is not _WAKE:
                    status = JetStreamContext.is_status_msg(item)
                    if status is None:
                        msgs.append(item)
                        outstanding -= 1
                    else:
                        outstanding, refused = self._pull_status(item, status, outstanding,
                                                                 next_subject)
                    heard = time.monotonic()
                if len(msgs) >= batch or queue.empty():
                    break
                item = queue.get_nowait()
            if msgs:
                await self._handle(msgs, handler, batch_handler, message_type, max_deliver)
            if refused:  # asked again after a pause, not in a tight loop
                await asyncio.sleep(0.5)

    def _pull_status(self, msg: Msg, status: str, outstanding: int,
                     where: str) -> tuple[int, bool]:
        """After a status from the broker on the pull inbox: what is still asked for, and
        whether the request was refused (then asked again after a pause)."""
        if status == "100":  # idle heartbeat: the request is alive
            return outstanding, False
        if status == "408":  # a request expired, with what it still asked for
            left = (msg.headers or {}).get("Nats-Pending-Messages", "")
            return (max(0, outstanding - int(left)) if left.isdigit() else 0), False
        # 409 and others: the request is gone (consumer deleted, leadership change, ...)
        self.metrics.error("fetch")
        logger.warning("pull on {}: the broker said {} {}; asking again", where, status,
                       (msg.headers or {}).get("Description", ""))
        return 0, True

    async def _handle(self, msgs: list[Msg], handler, batch_handler, message_type,
                      max_deliver: int) -> None:
        good: list[tuple[Msg, Delivery]] = []
        for msg in msgs:
            self._counts(msg.subject).n_in += 1
            md = msg.metadata
            try:
                message = decode(msg.data, message_type)
            except DecodeFailure as exc:
                await self.dead_letter(msg, exc.reason)
                await msg.ack()  # dead-lettered: stored elsewhere, not to be redelivered
                continue
            good.append((msg, Delivery(message, msg.subject, dict(msg.headers or {}), "",
                                       md.sequence.stream, md.num_delivered)))
        if not good:
            return
        if batch_handler is not None:
            await self._run_batch(batch_handler, good, max_deliver)
        else:
            for msg, delivery in good:
                await self._run_one(handler, msg, delivery, max_deliver)

    async def _run_one(self, handler, msg: Msg, delivery: Delivery, max_deliver: int) -> None:
        counts = self._counts(delivery.subject)
        started = time.perf_counter()
        try:
            await handler(delivery)
        except Exception as exc:
            await self._failed(msg, delivery, exc, max_deliver)
        else:
            await msg.ack()
        finally:
            counts.handled(time.perf_counter() - started)

    async def _run_batch(self, batch_handler, good, max_deliver: int) -> None:
        started = time.perf_counter()
        try:
            await batch_handler([d for _, d in good])
        except Exception as exc:
            for msg, delivery in good:
                await self._failed(msg, delivery, exc, max_deliver)
            return
        for msg, delivery in good:
            await msg.ack()
        per = (time.perf_counter() - started) / len(good)
        for _, delivery in good:
            self._counts(delivery.subject).handled(per)

    async def _failed(self, msg: Msg, delivery: Delivery, exc: Exception, max_deliver: int) -> None:
        self.metrics.error("handler")
        log_failure(exc, "handler for {} (stream seq {}) failed, attempt {}/{}",
                    delivery.subject, delivery.stream_seq, delivery.num_delivered, max_deliver)
        if delivery.num_delivered >= max_deliver:
            await self.dead_letter(msg, f"handler failed {max_deliver} times: {exc!r}")
            await msg.term()
        else:
            await msg.nak(delay=min(2.0 ** delivery.num_delivered, 30.0))

    async def dead_letter(self, msg: Msg, reason: str) -> None:
        """Keep an undecodable or unhandleable message on `sys.deadletter.{agent}`, and count it."""
        family = subjects.family(msg.subject)
        self.metrics.dead_letter(family)
        logger.warning("dead letter from {}: {}", msg.subject, reason)
        now = time.time_ns()
        letter = DeadLetter(
            ts_event=now,
            ts_init=now,
            agent=self.agent,
            subject=msg.subject,
            reason=reason[:2000],
            payload=bytes(msg.data[:1_000_000]),
            headers={k: str(v) for k, v in (msg.headers or {}).items()},
        )
        try:
            await self.js.publish(self._dead_subject, encode(letter), timeout=self.request_timeout_s)
            self._counts(self._dead_subject).n_out += 1
        except Exception as exc:  # the store is unreachable: at least it is logged and counted
            self.metrics.error("deadletter")
            logger.error("could not store dead letter from {}: {}", msg.subject, exc)

    # --- state --------------------------------------------------------------------------------
    async def kv(self, bucket: str) -> KeyValue:
        kv = await self.js.key_value(bucket)
        if not self.js_domain:
            return kv
        # Through a leaf node the hub forwards no $KV interest: writes go through its domain's
        # API ($JS.hub.API.$KV.bucket.key, as nats.go does); reads are unchanged.
        return KeyValue(name=bucket, stream=kv._stream, pre=kv._pre, direct=kv._direct,
                        js=_DomainWrites(self.js, f"$JS.{self.js_domain}.API."))

    # --- shutdown -----------------------------------------------------------------------------
    async def stop_consumers(self) -> None:
        """Let every pull loop finish the batch in hand (handled and acked), then stop."""
        for c in self._consumers:
            c.stopping.set()
            c.queue.put_nowait(_WAKE)  # a loop waiting for messages sees it at once
        if self._consumers:
            await asyncio.gather(*(c.task for c in self._consumers), return_exceptions=True)
        # Then nothing more arrives; what arrived and was not handled goes back at once (nak),
        # not after its ack wait.
        for c in self._consumers:
            try:
                await c.subscription.unsubscribe()
                while not c.queue.empty():
                    item = c.queue.get_nowait()
                    if item is not _WAKE and JetStreamContext.is_status_msg(item) is None:
                        await item.nak()
            except Exception as exc:
                logger.debug("unsubscribe of a pull consumer failed: {}", exc)
        self._consumers.clear()

    async def drain(self) -> None:
        await self.stop_consumers()
        if not self.nc.is_closed:
            try:
                await self.nc.drain()
            except Exception as exc:
                logger.warning("drain did not finish cleanly: {}", exc)
                await self.nc.close()

    async def flush(self, timeout: float = 2.0) -> None:
        await self.nc.flush(timeout=timeout)


class _DomainWrites:
    """A JetStream context whose publishes on $KV subjects go through a domain's API prefix."""

    def __init__(self, js, prefix: str) -> None:
        self._inner, self._prefix = js, prefix

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def publish(self, subject: str, *args, **kw):
        if subject.startswith("$KV."):
            subject = self._prefix + subject
        return await self._inner.publish(subject, *args, **kw)


def _refused_login(opts: ConnectOptions) -> str:
    if not opts.user:
        return (f"NATS at {opts.url} refused an anonymous connection: it needs a user and "
                "password (`organism up` keeps them in <data_dir>/keys/nats.json and gives each "
                "agent its own; elsewhere set ORGANISM_NATS_PASSWORD)")
    return (f"NATS at {opts.url} refused user {opts.user!r}: wrong or missing password (set "
            f"ORGANISM_NATS_PASSWORD to {opts.user}'s password; `organism up` keeps them in "
            "<data_dir>/keys/nats.json)")


def options_from_config(config, name: str, url: str | None = None, secrets=None) -> ConnectOptions:
    """ConnectOptions from the typed Config (nats section) and the environment's secrets."""
    n = config.nats
    token = secrets.nats_token.reveal() if secrets and secrets.nats_token else None
    password = secrets.nats_password.reveal() if secrets and secrets.nats_password else None
    return ConnectOptions(
        url=url or n.url or f"nats://{n.host}:{n.port}",
        name=name,
        connect_timeout_s=n.connect_timeout_s,
        reconnect_wait_s=n.reconnect_wait_s,
        request_timeout_s=n.request_timeout_s,
        drain_timeout_s=n.drain_timeout_s,
        creds_file=n.creds_file,
        token=token,
        user=name if password else None,
        password=password,
        js_domain=config.jetstream.domain,
    )


__all__: Sequence[str] = ["Bus", "ConnectOptions", "Delivery", "options_from_config", "MSG_ID"]
