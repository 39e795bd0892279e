"""Reconciliation: what the venue says, read into exact values, and compared with what we know.
Pure functions of venue replies (Hyperliquid's /info shapes) and our records.

Rules:
- A fill is identified by the venue's trade id (and its time, so a local exchange that restarted
  and counts trade ids from 1 again is not mistaken for fills already seen).
- An order of ours the venue does not list is asked for by cloid, but only once the venue has had
  `lag_ms` to show it: the venue's state can lag a placement by seconds.
- An open order at the venue that we never sent (placed by hand) is reported, never canceled.
- A position differing from the one we knew plus the fills we published since is reported.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from agents.execution.orders import TrackedOrder
from agents.execution.rounding import round_size, trigger_price

ZERO = Decimal(0)


class VenueFill(msgspec.Struct, frozen=True, kw_only=True):
    coin: str
    px: Decimal
    sz: Decimal
    is_buy: bool
    time_ms: int
    oid: int
    tid: int
    fee: Decimal
    crossed: bool
    closed_pnl: Decimal
    cloid: str = ""
    liquidation: bool = False

    @property
    def key(self) -> str:
        """The de-duplication key (KV-safe): trade id and time."""
        return f"{self.tid}_{self.time_ms}"

    @property
    def signed(self) -> Decimal:
        return self.sz if self.is_buy else -self.sz


def parse_fill(raw: dict) -> VenueFill:
    return VenueFill(
        coin=str(raw["coin"]), px=Decimal(str(raw["px"])), sz=Decimal(str(raw["sz"])),
        is_buy=raw["side"] == "B", time_ms=int(raw["time"]), oid=int(raw.get("oid", 0)),
        tid=int(raw.get("tid", 0)), fee=Decimal(str(raw.get("fee", "0"))),
        crossed=bool(raw.get("crossed", True)), closed_pnl=Decimal(str(raw.get("closedPnl", "0"))),
        cloid=str(raw.get("cloid") or "").lower(), liquidation=bool(raw.get("liquidation")),
    )


class VenuePosition(msgspec.Struct, frozen=True, kw_only=True):
    coin: str
    szi: Decimal
    entry_px: Decimal | None
    unrealized_pnl: Decimal
    margin_used: Decimal
    leverage: float
    liquidation_px: Decimal | None


class VenueAccount(msgspec.Struct, frozen=True, kw_only=True):
    equity: Decimal
    margin_used: Decimal
    total_notional: Decimal
    withdrawable: Decimal
    positions: dict[str, VenuePosition]
    time_ms: int = 0


def _dec(x: object, default: str = "0") -> Decimal:
    return Decimal(str(x)) if x not in (None, "") else Decimal(default)


def parse_account(state: dict) -> VenueAccount:
    """clearinghouseState → account figures and positions (coins with a size only)."""
    positions = {}
    for item in state.get("assetPositions", []):
        p = item["position"]
        szi = _dec(p["szi"])
        if szi == 0:
            continue
        lev = p.get("leverage") or {}
        liq = p.get("liquidationPx")
        positions[p["coin"]] = VenuePosition(
            coin=p["coin"], szi=szi, entry_px=_dec(p["entryPx"]) if p.get("entryPx") else None,
            unrealized_pnl=_dec(p.get("unrealizedPnl")), margin_used=_dec(p.get("marginUsed")),
            leverage=float(lev.get("value", 1)), liquidation_px=_dec(liq) if liq else None)
    summary = state.get("marginSummary", {})
    return VenueAccount(
        equity=_dec(summary.get("accountValue")), margin_used=_dec(summary.get("totalMarginUsed")),
        total_notional=_dec(summary.get("totalNtlPos")), withdrawable=_dec(state.get("withdrawable")),
        positions=positions, time_ms=int(state.get("time") or 0))


def net_transfers(ledger: list[dict], address: str) -> Decimal:
    """Deposits minus withdrawals, plus transfers in minus transfers out (USD), from
    userNonFundingLedgerUpdates rows of `address`. Liquidations and other rows that move no
    money in or out count nothing."""
    me = address.lower()
    total = ZERO
    for row in ledger:
        delta = row.get("delta") or {}
        kind = delta.get("type")
        amount = _dec(delta.get("usdc") or delta.get("amount"))
        if kind == "deposit":
            total += amount
        elif kind == "withdraw":
            total -= amount + _dec(delta.get("fee"))
        elif kind == "accountClassTransfer":
            total += amount if delta.get("toPerp") else -amount
        elif kind in ("internalTransfer", "subAccountTransfer", "send", "spotTransfer"):
            incoming = str(delta.get("destination", "")).lower() == me
            total += amount if incoming else -(amount + _dec(delta.get("fee")))
    return total


def liquidations(ledger: list[dict]) -> list[dict]:
    return [r for r in ledger if (r.get("delta") or {}).get("type") == "liquidation"]


def missing_orders(ours: list[TrackedOrder], venue_open: list[dict], now_ms: int,
                   lag_ms: int) -> list[TrackedOrder]:
    """Our orders the venue should list as open but does not, old enough to ask about (by
    cloid): resting limits and triggers we believe open, and anything still unacknowledged."""
    listed = {str(o.get("cloid") or "").lower() for o in venue_open} | {
        int(o.get("oid", -1)) for o in venue_open}
    out = []
    for order in ours:
        if order.done or now_ms - order.sent_ms < lag_ms:
            continue
        if order.cloid in listed or (order.oid and order.oid in listed):
            continue
        out.append(order)
    return out


def unknown_orders(ours: dict[str, TrackedOrder], venue_open: list[dict],
                   known_oids: set[int]) -> list[dict]:
    """Open orders at the venue we did not send (no cloid of ours) and have not reported yet."""
    out = []
    for o in venue_open:
        cloid = str(o.get("cloid") or "").lower()
        if cloid and cloid in ours:
            continue
        if int(o.get("oid", 0)) in known_oids:
            continue
        out.append(o)
    return out


def position_gap(previous: Decimal, fills_since: list[VenueFill], venue: Decimal) -> Decimal:
    """How far the venue's position (coins) is from the one we knew plus the fills since."""
    return venue - (previous + sum((f.signed for f in fills_since), ZERO))


class StopPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What keeps one coin's protective stop in step with its position."""

    cancel: tuple[str, ...] = ()  # cloids of stops to take down
    place: bool = False
    is_buy: bool = False
    size: Decimal = ZERO
    trigger_px: Decimal = ZERO


def stop_plan(szi: Decimal, entry_px: Decimal | None, fraction: Decimal, sz_decimals: int,
              stops: list[TrackedOrder]) -> StopPlan:
    """One reduce-only stop for the whole net position, `fraction` of the entry price away on the
    losing side; the stops we have are kept when one already matches, else replaced."""
    live = [s for s in stops if not s.done]
    if szi == 0 or entry_px is None or fraction <= 0:
        return StopPlan(cancel=tuple(s.cloid for s in live))
    closes_long = szi > 0
    raw = entry_px * (1 - fraction) if closes_long else entry_px * (1 + fraction)
    px = trigger_price(closes_long, raw, sz_decimals)
    size = round_size(abs(szi), sz_decimals)
    keep = [s for s in live if s.size == size and s.is_buy == (not closes_long)
            and s.trigger_px == px]
    if keep:
        return StopPlan(cancel=tuple(s.cloid for s in live if s is not keep[0]))
    return StopPlan(cancel=tuple(s.cloid for s in live), place=True, is_buy=not closes_long,
                    size=size, trigger_px=px)
