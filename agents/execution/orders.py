"""The order state machine: submitted → accepted → partially filled → filled, or canceled,
rejected, expired. Pure: the venue's words go in, our state and the event to publish come out.

Every order execution sends is a `TrackedOrder`, kept in the account's KV bucket under
`order.{cloid}` before it is sent, so a restart knows what may be at the venue and asks for it by
cloid instead of sending it again.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

OrderStatus = Literal[
    "submitted", "accepted", "partially_filled", "filled", "canceled", "rejected", "expired"]
TERMINAL: frozenset[str] = frozenset({"filled", "canceled", "rejected", "expired"})
# Who asked for the order: an approved intent, risk's flatten, or execution's own protective stop
Origin = Literal["intent", "flatten", "protective"]
# The end an order's change publishes (bus.subjects.EXEC_EVENT_KINDS), or None. The first word
# from the venue that shows it has the order publishes "accepted" once (TrackedOrder.acked).
EventKind = Literal["canceled", "expired", "rejected"] | None
ZERO = Decimal(0)


class TrackedOrder(msgspec.Struct, kw_only=True):
    """An order of ours. Sizes in coins, prices in USD, times in ms on the venue's clock."""

    cloid: str
    command_id: str
    correlation_id: str
    coin: str
    side: Literal["buy", "sell"]
    size: Decimal  # rounded to the venue's lot
    kind: Literal["market", "limit", "trigger"] = "market"
    tif: Literal["Gtc", "Ioc", "Alo"] = "Ioc"
    limit_px: Decimal | None = None  # rounded to the venue's grid
    reduce_only: bool = False
    trigger_px: Decimal | None = None
    tpsl: Literal["sl", "tp"] = "sl"
    intent_id: str = ""
    strategy_id: str = ""
    origin: Origin = "intent"
    status: OrderStatus = "submitted"
    oid: int = 0
    filled: Decimal = ZERO
    created_ms: int = 0  # first sent (venue clock)
    sent_ms: int = 0  # last sent
    expires_ms: int = 0  # the action's expiresAfter: after it the venue can no longer accept it
    # post-only first: at this time the resting leg is canceled and the rest crosses with IOC
    post_only_until_ms: int = 0
    next_cloid: str = ""  # the IOC leg that follows a post-only leg
    ioc_px: Decimal | None = None  # that leg's limit: the price the order would have crossed at
    reason: str = ""
    reference_px: Decimal | None = None
    acked: bool = False  # OrderAccepted published: the venue showed it has the order
    ioc_leg: bool = False  # the IOC that follows a post-only leg
    # the venue fills applied to `filled` and published (keys as in KV `fill.{key}`, which holds
    # only fills of orders not ours): a fill is applied and published once, across restarts
    fill_keys: list[str] = msgspec.field(default_factory=list)

    @property
    def is_buy(self) -> bool:
        return self.side == "buy"

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def remaining(self) -> Decimal:
        return max(ZERO, self.size - self.filled)


def from_venue_status(order: TrackedOrder, status: str) -> tuple[OrderStatus, EventKind]:
    """Our status after the venue says `status` (orderStatus / orderUpdates words), and the end
    the change publishes (None when there is nothing new to say). Terminal states stay."""
    if order.done:
        return order.status, None
    if status in ("open", "triggered"):
        return ("accepted" if order.status == "submitted" else order.status), None
    if status == "filled":
        return "filled", None  # the fills themselves are the events
    if status == "rejected" or status.endswith("Rejected"):
        return "rejected", "rejected"
    if status == "canceled" or status.endswith("Canceled") or status == "scheduledCancel":
        # An IOC that ran out of liquidity: its time ran out (expired); anything taken down by
        # the venue (dead-man switch, liquidation, reduce-only) or by a cancel: canceled.
        if order.kind != "trigger" and order.tif == "Ioc" and status == "canceled":
            return "expired", "expired"
        return "canceled", "canceled"
    return order.status, None  # a word we do not know: keep what we know, reconciliation asks again


def acknowledges(status: str) -> bool:
    """Whether a venue status word shows the venue took the order (anything but a rejection)."""
    return not (status == "rejected" or status.endswith("Rejected"))


def apply_fill(order: TrackedOrder, size: Decimal) -> OrderStatus:
    """The order's status after a fill of `size` coins (already de-duplicated)."""
    order.filled += size
    if order.filled >= order.size:
        order.status = "filled"
    elif not order.done:
        order.status = "partially_filled"
    return order.status


def after_reply(order: TrackedOrder, entry: object) -> tuple[OrderStatus, EventKind, str]:
    """Our status after one entry of an order reply's `statuses`: (status, end, text).

    `{"resting": {oid}}` → accepted; `{"filled": {totalSz, oid}}` → an IOC is over at the venue:
    filled when it took its whole size, else expired with what it filled (the fills follow on the
    websocket); `{"error": text}` → rejected with the venue's text verbatim;
    "waitingForTrigger" / "waitingForFill" → accepted."""
    if isinstance(entry, dict) and "error" in entry:
        if order.done:
            return order.status, None, str(entry["error"])
        return "rejected", "rejected", str(entry["error"])
    if isinstance(entry, dict) and "resting" in entry:
        order.oid = int(entry["resting"].get("oid") or order.oid)
        return ("accepted" if order.status == "submitted" else order.status), None, ""
    if isinstance(entry, dict) and "filled" in entry:
        order.oid = int(entry["filled"].get("oid") or order.oid)
        if order.done:
            return order.status, None, ""
        if order.tif == "Ioc" and filled_total(entry) < order.size:
            return "expired", "expired", "IOC remainder not filled"
        if filled_total(entry) >= order.size:
            return "filled", None, ""
        return ("accepted" if order.status == "submitted" else order.status), None, ""
    if entry in ("waitingForTrigger", "waitingForFill"):
        return ("accepted" if order.status == "submitted" else order.status), None, ""
    return order.status, None, f"unexpected reply entry {entry!r}"


def filled_total(entry: object) -> Decimal:
    """The size an order reply says filled at once (coins), 0 when it rested or failed."""
    if isinstance(entry, dict) and "filled" in entry:
        return Decimal(str(entry["filled"].get("totalSz", "0")))
    return ZERO
