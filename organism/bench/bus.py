"""`organism bench bus`: request/reply latency raw vs typed, and JetStream publish-with-ack.

One run, one embedded broker on a free loopback port (or --url), the same payload both ways: an
OrderIntent. Raw is nats-py with bytes in and bytes out; typed is the Bus: encode, decode,
validate and count on both sides. Both ends of a case run in this process, so its CPU time per
round trip is what the case costs: `typed_cpu_us_per_msg` is the typed layer's extra CPU per
message (typed minus raw per round trip, halved: a request and its reply).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

NAME = "bus"
HELP = "request/reply p50/p99 raw vs typed bus, JetStream publish-with-ack p50/p99 (µs)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--iterations", type=int, default=5000, help="measured round trips per case")
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--url", help="use this NATS server instead of an embedded one")


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def run(args: argparse.Namespace) -> dict:
    from bus.broker import EmbeddedBroker

    if args.url:
        return asyncio.run(_measure(args.url, args.iterations, args.warmup))
    with tempfile.TemporaryDirectory(prefix="organism-bench-") as tmp:
        with EmbeddedBroker(store_dir=Path(tmp) / "js") as broker:
            return asyncio.run(_measure(broker.url, args.iterations, args.warmup))


async def _measure(url: str, iterations: int, warmup: int) -> dict:
    import nats

    from bus import subjects
    from bus.codec import encode
    from bus.connection import Bus, ConnectOptions, Delivery
    from bus.jetstream import provision
    from schemas import OrderIntent

    now = time.time_ns()
    intent = OrderIntent(
        ts_event=now, ts_init=now, correlation_id=str(uuid.uuid4()), intent_id=str(uuid.uuid4()),
        strategy_id="gp_12_3fa9c2d1", coin="BTC", side="buy", size=Decimal("0.015"),
        kind="limit", limit_price=Decimal("60123.5"), time_in_force="Gtc",
        target_position=Decimal("0.015"), reason="long-entry",
    )
    payload = encode(intent)

    # raw: two plain connections, bytes echo
    server = await nats.connect(url, name="bench-raw-server")
    client = await nats.connect(url, name="bench-raw-client")

    async def echo(msg):
        await server.publish(msg.reply, msg.data)

    raw_subject = subjects.bench("raw")
    await server.subscribe(raw_subject, cb=echo)
    await server.flush()

    # typed: two Bus connections, decode + validate + encode on both sides
    responder = await Bus.connect(ConnectOptions(url=url, name="bench-typed-server"))
    requester = await Bus.connect(ConnectOptions(url=url, name="bench-typed-client"))

    async def typed_echo(d: Delivery):
        return d.message

    subject = subjects.bench("typed")
    await responder.subscribe(subject, typed_echo, message_type=OrderIntent)
    await responder.flush()

    # Interleaved rounds, so load from other processes and drift hit both cases alike. Both
    # ends of each case run in this process: its CPU time per round trip is what the case
    # costs, and typed minus raw is what the typed layer costs.
    raw: list[float] = []
    typed: list[float] = []
    cpu = {"raw": 0.0, "typed": 0.0}
    rounds = max(1, iterations // 250)
    per_round = max(1, iterations // rounds)
    for r in range(rounds):
        raw += await _loop(lambda: client.request(raw_subject, payload, timeout=2),
                           per_round, warmup if r == 0 else 20, cpu, "raw")
        typed += await _loop(
            lambda: requester.request(subject, intent, reply_type=OrderIntent, timeout=2),
            per_round, warmup if r == 0 else 20, cpu, "typed",
        )
    await server.drain()
    await client.drain()

    # JetStream publish with ack (file storage, de-dup window on), unique msg ids
    await provision(requester.js)
    js_subject = subjects.order_intent("paper", "bench_js")
    counter = iter(range(10**9))
    js = await _loop(
        lambda: requester.publish_durable(js_subject, intent, msg_id=f"bench-{next(counter)}"),
        min(iterations, 2000), warmup, {}, "js",
    )
    await responder.drain()
    await requester.drain()
    raw_p50 = _pct(raw, 0.5)
    typed_p50 = _pct(typed, 0.5)
    extra_cpu = (cpu["typed"] / len(typed) - cpu["raw"] / len(raw)) * 1e6
    return {
        "iterations": iterations,
        "payload_bytes": len(payload),
        "raw_p50_us": round(raw_p50, 1),
        "raw_p99_us": round(_pct(raw, 0.99), 1),
        "typed_p50_us": round(typed_p50, 1),
        "typed_p99_us": round(_pct(typed, 0.99), 1),
        "typed_overhead_p50_pct": round(100 * (typed_p50 - raw_p50) / raw_p50, 1),
        "js_publish_p50_us": round(_pct(js, 0.5), 1),
        "js_publish_p99_us": round(_pct(js, 0.99), 1),
        "raw_mean_us": round(statistics.fmean(raw), 1),
        "typed_mean_us": round(statistics.fmean(typed), 1),
        "typed_p50_vs_raw": round(typed_p50 / raw_p50, 3),
        "raw_cpu_us_per_round_trip": round(cpu["raw"] / len(raw) * 1e6, 1),
        "typed_cpu_us_per_round_trip": round(cpu["typed"] / len(typed) * 1e6, 1),
        # a round trip is two messages (the request and its reply), each encoded once and
        # decoded, validated and counted once
        "typed_cpu_us_per_msg": round(extra_cpu / 2, 2),
    }


async def _loop(call, iterations: int, warmup: int, cpu: dict, case: str) -> list[float]:
    for _ in range(warmup):
        await call()
    out = []
    c0 = time.process_time()
    for _ in range(iterations):
        t0 = time.perf_counter_ns()
        await call()
        out.append((time.perf_counter_ns() - t0) / 1000)
    cpu[case] = cpu.get(case, 0.0) + time.process_time() - c0
    return out
