"""Watching subjects as an observer (`organism tail`, the dashboard).

What is published on core NATS is heard by a core subscription; a stored subject (a stream's)
through an ordered JetStream consumer on its stream, new messages only, delivering to the
observer's own inbox. The broker lets nobody hold a core subscription on a stored subject (see
bus/permissions.py for why), and the consumer shows what was actually stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from bus.connection import Bus
from bus.jetstream import STREAMS
from bus.permissions import OBSERVE, intersect, matches
from bus.subjects import validate_pattern

RawHandler = Callable[[Msg], Awaitable[None]]


async def observe(bus: Bus, pattern: str, cb: RawHandler) -> list[Any]:
    """Deliver every new message on `pattern` (wildcards allowed) to `cb` as received: core
    subjects an observer may hear, and the stored ones through their streams. Returns the
    subscriptions. A pattern outside the catalogue is subscribed as given."""
    validate_pattern(pattern)
    core = [x for x in (intersect(pattern, a) for a in OBSERVE) if x]
    subs: list[Any] = []
    for spec in STREAMS:
        # subjects the core subscriptions already hear (the candles) need no consumer
        filters = [x for x in (intersect(pattern, subj) for subj in spec.subjects)
                   if x and not any(matches(a, x) for a in OBSERVE)]
        if not filters:
            continue
        try:
            await bus.js.stream_info(spec.name)
        except NotFoundError:
            core += filters  # no stream stores them on this broker: they travel on core only
            continue
        for f in filters:
            subs.append(await bus.js.subscribe(f, stream=spec.name, cb=cb, ordered_consumer=True,
                                               deliver_policy=DeliverPolicy.NEW))
    if not core and not subs:
        # Outside the catalogue (`_INBOX.>`, `$JS.>`): as asked, on core NATS. A broker with
        # permissions refuses it, and the Bus logs the refusal.
        core = [pattern]
    for subject in dict.fromkeys(core):
        subs.append(await bus.nc.subscribe(subject, cb=cb))
    return subs
