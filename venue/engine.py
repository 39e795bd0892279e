"""The exchange core: coins, books, accounts, order entry and matching. Pure and synchronous:
every entry point takes `now_ms`. The signed /exchange actions live in venue.actions, and what
happens as time passes (requotes, triggers, dead-man switches, funding, liquidation) in venue.upkeep.

What happened is appended to `outbox` as (channel, key, data) for the server to push on the
websocket: ("trades", coin, [...]), ("orderUpdates", user, [...]), ("userFills", user, {...}),
("user", user, {...}).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from venue import actions, rules, upkeep
from venue.accounts import MARKET_MAKER, ZERO, Account, liquidation_px
from venue.actions import MalformedAction
from venue.book import Book, Order
from venue.config import SimConfig
from venue.faults import Faults
from venue.limits import DAY_MS, AddressBudget, NonceBook
from venue.market import make_market
from venue.mirror import MirrorMarket, is_mirror
from venue.wire import BPS, dec, fmt, order_wire, tx_hash

__all__ = ["MARKET_MAKER", "Exchange", "MalformedAction", "OrderRecord"]


@dataclass(slots=True)
class OrderRecord:
    """The venue's memory of an order, for orderStatus: the order and its latest status."""

    order: Order
    status: str
    status_ts: int


class Exchange:
    """One venue: coins, books, accounts. Construct with the config and the start time (ms)."""

    def __init__(self, config: SimConfig, now_ms: int) -> None:
        self.config = config
        self.coins = [c.name for c in config.coins]
        self.specs = {c.name: c for c in config.coins}
        self.asset_of = {c.name: i for i, c in enumerate(config.coins)}
        self.max_lev = {c.name: c.max_leverage for c in config.coins}
        self.books = {c: Book(c) for c in self.coins}
        self.market = MirrorMarket(config) if is_mirror(config.market) else make_market(config, now_ms)
        self.accounts: dict[str, Account] = {}
        self.taker_fee = Decimal(config.taker_fee_bps) / BPS
        self.maker_fee = Decimal(config.maker_fee_bps) / BPS
        self.min_notional = Decimal(config.min_notional_usd)
        self.auto_fund = Decimal(config.auto_fund_usdc)
        self.nonces = NonceBook()
        self.budget = AddressBudget(config.address_initial_actions)
        self.faults = Faults()
        self.next_oid = 1_000 + config.seed % 1000
        self.next_tid = 1
        self.records: dict[int, OrderRecord] = {}
        self.cloids: dict[tuple[str, str], int] = {}  # (user, cloid) → oid
        self.open_by_user: dict[str, dict[int, Order]] = {}
        self.triggers: dict[int, Order] = {}
        self.fills: dict[str, list[dict]] = {}
        self.user_funding: dict[str, list[dict]] = {}  # userFunding ledger rows per user
        # userNonFundingLedgerUpdates rows per user: deposits, liquidations (what moves an
        # account's money other than trading and funding)
        self.ledger: dict[str, list[dict]] = {}
        self.funding_history: dict[str, list[dict]] = {c: [] for c in self.coins}
        self.funding_rate: dict[str, Decimal] = {c: ZERO for c in self.coins}
        self.trade_log: dict[str, deque[tuple[int, Decimal, Decimal]]] = {c: deque() for c in self.coins}
        self.agents: dict[str, str] = {}  # API wallet → master account
        self.pending_children: dict[int, list[dict]] = {}  # normalTpsl parent oid → child wires
        self.siblings: dict[int, list[int]] = {}  # TP/SL oid → the other orders of its group
        self.schedule: dict[str, int] = {}  # user → ms of the armed dead-man switch
        self.schedule_triggers: dict[tuple[str, int], int] = {}  # (user, day) → count
        self.last_funding_slot = now_ms // config.funding_interval_ms
        self.outbox: list[tuple[str, str, Any]] = []
        self.now_ms = now_ms
        mm = Account(address=MARKET_MAKER, exempt=True)
        self.accounts[MARKET_MAKER] = mm
        for spec in config.accounts:
            self.fund(spec.address, Decimal(spec.usdc))
        upkeep.requote(self, now_ms)

    # ----------------------------------------------------------------- accounts and prices
    def fund(self, address: str, usdc: Decimal) -> Account:
        """Credit `usdc` to `address`, creating the account (a deposit, not PnL); the deposit is
        a row of its non-funding ledger, as Hyperliquid lists a bridge deposit."""
        acct = self.account(address, create=True)
        assert acct is not None
        acct.deposit(usdc)
        if not acct.exempt:
            self.ledger_row(acct.address, {"type": "deposit", "usdc": fmt(usdc)})
        return acct

    def ledger_row(self, user: str, delta: dict) -> None:
        """Append one userNonFundingLedgerUpdates row (time: the venue clock, ms)."""
        rows = self.ledger.setdefault(user, [])
        rows.append({"time": self.now_ms, "hash": tx_hash("ledger", user, len(rows), self.now_ms),
                     "delta": delta})

    def account(self, address: str, create: bool = False) -> Account | None:
        key = address.lower()
        acct = self.accounts.get(key)
        if acct is None and create:
            acct = Account(address=key)
            self.accounts[key] = acct
        return acct

    def marks(self) -> dict[str, Decimal]:
        """Mark price per coin: the fair (oracle) price of the driving market."""
        return dict(self.market.fair)

    def mid(self, coin: str) -> Decimal:
        book_mid = self.books[coin].mid()
        return book_mid if book_mid is not None else self.market.fair[coin]

    # ----------------------------------------------------------------- /exchange
    def handle_action(self, body: dict[str, Any], now_ms: int) -> dict[str, Any]:
        """Verify and run one signed action; the reply is what Hyperliquid would send."""
        return actions.handle_action(self, body, now_ms)

    # ----------------------------------------------------------------- order entry
    def coin_of(self, asset: Any) -> str | None:
        if isinstance(asset, int) and not isinstance(asset, bool) and 0 <= asset < len(self.coins):
            return self.coins[asset]
        return None

    def new_oid(self) -> int:
        self.next_oid += 1
        return self.next_oid

    def place(self, acct: Account, wire: dict, now_ms: int) -> dict:
        """Validate and execute one order wire; returns its entry of `statuses`."""
        asset = wire.get("a")
        coin = self.coin_of(asset)
        if coin is None:
            return {"error": rules.UNKNOWN_ASSET.format(asset=asset)}
        injected = self.faults.take_order_rejection()
        if injected is not None:
            return {"error": rules.with_asset(injected or rules.INJECTED, asset)}
        spec = self.specs[coin]
        try:
            px, sz = dec(wire["p"]), dec(wire["s"])
            is_buy, reduce_only = bool(wire["b"]), bool(wire.get("r", False))
            kind = wire["t"]
        except Exception:
            return {"error": rules.with_asset(rules.INVALID_PRICE, asset)}
        if not (px.is_finite() and sz.is_finite()):
            return {"error": rules.with_asset(rules.INVALID_PRICE, asset)}
        cloid = wire.get("c")
        cloid = str(cloid).lower() if cloid else None
        kind_ok = isinstance(kind, dict)
        tif = kind.get("limit", {}).get("tif", "Gtc") if kind_ok and "limit" in kind else None
        order = Order(
            oid=0, coin=coin, asset=asset, user=acct.address, is_buy=is_buy, px=px, sz=sz, orig_sz=sz,
            tif=tif or "Gtc", reduce_only=reduce_only, cloid=cloid, timestamp=now_ms,
        )

        def reject(text: str, status: str = "rejected") -> dict:
            # An order with a cloid is remembered with its rejection status, so orderStatus by
            # cloid answers what happened rather than unknownOid.
            if cloid:
                order.oid = self.new_oid()
                self.remember(order, status, now_ms)
            return {"error": rules.with_asset(text, asset)}

        halted = self.market.halt_reason(coin)  # a mirror whose source went stale
        if halted:
            return reject(halted)
        if sz == 0:
            return reject(rules.ZERO_SIZE)
        if not rules.size_ok(sz, spec.sz_decimals):
            return reject(rules.INVALID_SIZE)
        if px <= 0:
            return reject(rules.INVALID_PRICE)
        if not rules.price_ok(px, spec.sz_decimals):
            return reject(rules.TICK, "tickRejected")
        trigger = kind.get("trigger") if kind_ok else None
        if trigger is None and tif not in ("Gtc", "Ioc", "Alo"):
            return reject(rules.INVALID_PRICE)
        if not reduce_only and px * sz < self.min_notional:
            return reject(rules.MIN_NOTIONAL, "minTradeNtlRejected")
        oracle = self.market.fair[coin]
        if abs(px - oracle) > oracle * Decimal("0.8"):
            return reject(rules.PRICE_FAR, "oracleRejected")
        if trigger is not None:
            try:
                trigger_px = dec(trigger["triggerPx"])
                order.tpsl = str(trigger["tpsl"])
                order.is_market = bool(trigger["isMarket"])
            except Exception:
                return reject(rules.BAD_TRIGGER, "badTriggerPxRejected")
            if trigger_px <= 0 or order.tpsl not in ("tp", "sl") or not rules.price_ok(trigger_px, spec.sz_decimals):
                return reject(rules.BAD_TRIGGER, "badTriggerPxRejected")
            order.trigger_px = trigger_px
            order.oid = self.new_oid()
            self.triggers[order.oid] = order
            self.remember(order, "open", now_ms)
            self.order_update(order, "open", now_ms)
            return _resting(order)
        # Reduce-only triggers are judged when they fire (a stop may be placed before its position).
        szi = acct.szi(coin)
        if reduce_only and (szi == 0 or (szi > 0) == is_buy):
            return reject(rules.REDUCE_ONLY, "reduceOnlyRejected")
        book = self.books[coin]
        if tif == "Alo" and book.crosses(is_buy, px):
            bbo = f"{fmt(book.best_bid() or ZERO)}@{fmt(book.best_ask() or ZERO)}"
            return reject(rules.BAD_ALO.format(bbo=bbo), "badAloPxRejected")
        if not reduce_only and not acct.exempt and not self.margin_ok(acct, order):
            return reject(rules.MARGIN, "perpMarginRejected")
        if tif == "Ioc" and not book.crosses(is_buy, px):
            return reject(rules.IOC_CANCEL, "iocCancelRejected")
        order.oid = self.new_oid()
        if cloid:
            self.cloids[(acct.address, cloid)] = order.oid
        filled, notional = self.match(order, now_ms)
        if order.sz > 0 and tif != "Ioc":
            book.add(order)
            self.open_by_user.setdefault(acct.address, {})[order.oid] = order
            self.remember(order, "open", now_ms)
            self.order_update(order, "open", now_ms)
            return _resting(order)
        if filled == 0:
            self.remember(order, "iocCancelRejected", now_ms)
            return {"error": rules.with_asset(rules.IOC_CANCEL, asset)}
        status = "filled" if order.sz == 0 else "canceled"
        self.remember(order, status, now_ms)
        self.order_update(order, status, now_ms)
        avg = (notional / filled).quantize(Decimal("1e-8")).normalize()
        out: dict[str, Any] = {"totalSz": fmt(filled), "avgPx": fmt(avg), "oid": order.oid}
        if order.cloid:
            out["cloid"] = order.cloid
        return {"filled": out}

    def margin_ok(self, acct: Account, incoming: Order) -> bool:
        """Initial margin of positions and open orders (each coin at its worse side) ≤ account value."""
        marks = self.marks()
        need = ZERO
        orders = list(self.open_by_user.get(acct.address, {}).values()) + [incoming]
        coins = {c for c, p in acct.positions.items() if p.szi != 0} | {o.coin for o in orders}
        for coin in coins:
            szi = acct.szi(coin)
            buys = sum((o.sz for o in orders if o.coin == coin and o.is_buy and not o.reduce_only), ZERO)
            sells = sum((o.sz for o in orders if o.coin == coin and not o.is_buy and not o.reduce_only), ZERO)
            exposure = max(abs(szi + buys), abs(szi - sells))
            ref = marks[coin]
            if incoming.coin == coin:
                ref = max(ref, incoming.px) if incoming.is_buy else ref
            need += exposure * ref / acct.leverage_of(coin, self.max_lev[coin])
        return need <= acct.account_value(marks)

    def match(self, taker: Order, now_ms: int) -> tuple[Decimal, Decimal]:
        """Trade `taker` against the book (price-time); returns (filled size, filled notional)."""
        book = self.books[taker.coin]
        acct = self.accounts[taker.user]
        filled = notional = ZERO
        trades: list[dict] = []
        while taker.sz > 0:
            if taker.reduce_only:
                room = abs(acct.szi(taker.coin))
                if room == 0 or (acct.szi(taker.coin) > 0) == taker.is_buy:
                    break
                taker.sz = min(taker.sz, room)
            maker = book.next_maker(taker.is_buy, taker.px)
            if maker is None:
                break
            if maker.user == taker.user:
                # Self-trade prevention: the resting order is canceled (Hyperliquid's "expire maker").
                self.cancel_order(maker, "selfTradeCanceled", now_ms)
                continue
            sz = min(taker.sz, maker.sz)
            if maker.reduce_only:
                mszi = self.accounts[maker.user].szi(maker.coin)
                if mszi == 0 or (mszi > 0) == maker.is_buy:
                    # Its position is gone or flipped: a reduce-only order would now increase it.
                    self.cancel_order(maker, "reduceOnlyCanceled", now_ms)
                    continue
                sz = min(sz, abs(mszi))
            px = maker.px
            trades.append(self.fill(taker, maker, px, sz, now_ms))
            taker.sz -= sz
            filled += sz
            notional += px * sz
        if trades:
            self.outbox.append(("trades", taker.coin, trades))
        return filled, notional

    def fill(
        self, taker: Order, maker: Order, px: Decimal, sz: Decimal, now_ms: int, liquidation: dict | None = None
    ) -> dict:
        """Book one match for both sides; returns the public trade."""
        activate: Order | None = None
        tid = self.next_tid
        self.next_tid += 1
        hash_ = tx_hash(self.config.seed, tid)
        for order, crossed in ((taker, True), (maker, False)):
            acct = self.accounts[order.user]
            rate = ZERO if acct.exempt else (self.taker_fee if crossed else self.maker_fee)
            fee = (px * sz * rate).quantize(Decimal("0.000001"))
            result = acct.apply_fill(order.coin, order.is_buy, px, sz, fee)
            if not crossed:
                self.books[maker.coin].fill_maker(maker, sz)
                if maker.sz <= 0:
                    self.open_by_user.get(maker.user, {}).pop(maker.oid, None)
                    self.remember(maker, "filled", now_ms)
                    self.order_update(maker, "filled", now_ms)
                    if maker.oid in self.pending_children:
                        activate = maker
            if acct.exempt:
                continue
            fill = {
                "coin": order.coin,
                "px": fmt(px),
                "sz": fmt(sz),
                "side": order.side,
                "time": now_ms,
                "startPosition": fmt(result.start_position),
                "dir": result.direction,
                "closedPnl": fmt(result.closed_pnl),
                "hash": hash_,
                "oid": order.oid,
                "crossed": crossed,
                "fee": fmt(fee),
                "tid": tid,
                "feeToken": "USDC",
            }
            if order.cloid:
                fill["cloid"] = order.cloid
            if liquidation is not None:
                fill["liquidation"] = liquidation
            self.record_fill(acct.address, fill)
        if activate is not None:
            self.activate_children(activate, now_ms)
        self.trade_log[taker.coin].append((now_ms, px * sz, sz))
        self.market.candles.update(taker.coin, px, now_ms, volume=sz, trades=1)
        buyer, seller = (taker.user, maker.user) if taker.is_buy else (maker.user, taker.user)
        return {
            "coin": taker.coin,
            "side": taker.side,
            "px": fmt(px),
            "sz": fmt(sz),
            "hash": hash_,
            "time": now_ms,
            "tid": tid,
            "users": [buyer, seller],
        }

    def record_fill(self, user: str, fill: dict) -> None:
        self.fills.setdefault(user, []).append(fill)
        self.outbox.append(("userFills", user, {"isSnapshot": False, "user": user, "fills": [fill]}))
        self.outbox.append(("user", user, {"fills": [fill]}))

    def link_siblings(self, oids: list[int], position_tpsl: bool = False) -> None:
        """Make `oids` one TP/SL group: when one fires, the others are canceled."""
        for oid in oids:
            self.siblings[oid] = [o for o in oids if o != oid]
            order = self.triggers.get(oid)
            if order is not None:
                order.is_position_tpsl = position_tpsl

    def activate_children(self, parent: Order, now_ms: int) -> None:
        """The parent of a normalTpsl group filled: its TP/SL children become trigger orders."""
        wires = self.pending_children.pop(parent.oid, None)
        if not wires:
            return
        acct = self.accounts[parent.user]
        placed = [self.place(acct, wire, now_ms) for wire in wires]
        self.link_siblings([s["resting"]["oid"] for s in placed if "resting" in s])

    def cancel_order(self, order: Order, status: str, now_ms: int, notify: bool = True) -> None:
        self.pending_children.pop(order.oid, None)  # a canceled parent takes its children with it
        if order.oid in self.triggers:
            del self.triggers[order.oid]
        else:
            self.books[order.coin].remove(order)
        self.open_by_user.get(order.user, {}).pop(order.oid, None)
        self.remember(order, status, now_ms)
        if notify:
            self.order_update(order, status, now_ms)

    def remember(self, order: Order, status: str, now_ms: int) -> None:
        if order.is_synthetic:
            return
        self.records[order.oid] = OrderRecord(order=order, status=status, status_ts=now_ms)
        if order.cloid:
            self.cloids[(order.user, order.cloid)] = order.oid
        if status == "open" and order.trigger_px is not None:
            self.open_by_user.setdefault(order.user, {})[order.oid] = order

    def order_update(self, order: Order, status: str, now_ms: int) -> None:
        if order.is_synthetic:
            return
        data = order_wire(order)
        self.outbox.append(("orderUpdates", order.user, [{"order": data, "status": status, "statusTimestamp": now_ms}]))

    # ----------------------------------------------------------------- the clock
    def tick(self, now_ms: int, step_market: bool = True) -> None:
        """One market step: move prices, requote liquidity, fire triggers, dead-man switches,
        funding and liquidations that are due at `now_ms`."""
        self.now_ms = now_ms
        if step_market:
            self.market.step()
        self.market.record(now_ms)
        upkeep.requote(self, now_ms)
        upkeep.fire_triggers(self, now_ms)
        upkeep.fire_schedules(self, now_ms)
        upkeep.fund(self, now_ms)
        upkeep.liquidate(self, now_ms)

    def jump(self, coin: str, px: Decimal, now_ms: int) -> None:
        """Move the fair price of `coin` at once and let everything react."""
        self.market.jump(coin, px)
        self.tick(now_ms, step_market=False)

    # ----------------------------------------------------------------- views used by /info
    def day_volume(self, coin: str, now_ms: int) -> tuple[Decimal, Decimal]:
        """(USD notional, coin size) traded on `coin` over the last 24 hours."""
        log = self.trade_log[coin]
        while log and log[0][0] <= now_ms - DAY_MS:
            log.popleft()
        return sum((n for _, n, _ in log), ZERO), sum((q for _, _, q in log), ZERO)

    def prev_day_px(self, coin: str, now_ms: int) -> Decimal:
        """The price 24 hours ago (from the 1m candles), else the oldest price known."""
        past = self.market.candles.close_at(coin, now_ms - DAY_MS)
        return past if past is not None else Decimal(self.specs[coin].start_px)

    def liquidation_px(self, acct: Account, coin: str) -> Decimal | None:
        return liquidation_px(acct, coin, self.marks(), self.max_lev)


def _resting(order: Order) -> dict:
    out: dict[str, Any] = {"oid": order.oid}
    if order.cloid:
        out["cloid"] = order.cloid
    return {"resting": out}
