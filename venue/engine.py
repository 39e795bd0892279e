"""The exchange core: books, order entry and matching, accounts, funding, liquidation, the
dead-man switch, and the /exchange actions. Pure and synchronous: every entry point takes `now_ms`.

What happened is appended to `outbox` as (channel, key, data) for the server to push on the
websocket: ("trades", coin, [...]), ("orderUpdates", user, [...]), ("userFills", user, {...}),
("user", user, {...}).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from loguru import logger

from venue import rules
from venue.accounts import ZERO, Account, liquidation_px
from venue.book import Book, Order
from venue.config import SimConfig
from venue.faults import Faults
from venue.limits import DAY_MS, AddressBudget, NonceBook
from venue.market import make_market
from venue.signing import SignatureUnrecoverable, recover_agent_approver, recover_signer
from venue.wire import dec, fmt, tx_hash

MARKET_MAKER = "0x00000000000000000000000000000000000000aa"
BPS = Decimal(10_000)
MAX_FILLS = 2000


class MalformedAction(ValueError):
    """The body is not an action envelope (Hyperliquid answers HTTP 422)."""


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
        self.market = make_market(config, now_ms)
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
        self.funding_history: dict[str, list[dict]] = {c: [] for c in self.coins}
        self.funding_rate: dict[str, Decimal] = {c: ZERO for c in self.coins}
        self.trade_log: dict[str, deque[tuple[int, Decimal, Decimal]]] = {c: deque() for c in self.coins}
        self.agents: dict[str, str] = {}  # API wallet → master account
        self.schedule: dict[str, int] = {}  # user → ms of the armed dead-man switch
        self.schedule_triggers: dict[tuple[str, int], int] = {}  # (user, day) → count
        self.last_funding_slot = now_ms // config.funding_interval_ms
        self.outbox: list[tuple[str, str, Any]] = []
        self.now_ms = now_ms
        mm = Account(address=MARKET_MAKER, exempt=True)
        self.accounts[MARKET_MAKER] = mm
        for spec in config.accounts:
            self.fund(spec.address, Decimal(spec.usdc))
        self._requote(now_ms)

    # ----------------------------------------------------------------- accounts and prices
    def fund(self, address: str, usdc: Decimal) -> Account:
        """Credit `usdc` to `address`, creating the account (a deposit, not PnL)."""
        acct = self.account(address, create=True)
        assert acct is not None
        acct.deposit(usdc)
        return acct

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
        self.now_ms = now_ms
        action = body.get("action")
        nonce = body.get("nonce")
        signature = body.get("signature")
        if not isinstance(action, dict) or not isinstance(nonce, int) or not isinstance(signature, dict):
            raise MalformedAction("not an action envelope")
        if action.get("type") == "approveAgent":
            return self._approve_agent(action, signature, nonce, now_ms)
        vault = body.get("vaultAddress")
        expires = body.get("expiresAfter")
        try:
            signer = recover_signer(action, signature, nonce, vault, expires)
        except SignatureUnrecoverable:
            return _err(rules.UNRECOVERABLE)
        # An approved API wallet signs for its master account; nonces stay per signer.
        owner = self.agents.get(signer, signer)
        acct = self.accounts.get(owner)
        if acct is None and self.auto_fund > 0:
            acct = self.fund(signer, self.auto_fund)
        if acct is None or acct.exempt:
            return _err(rules.UNKNOWN_SIGNER.format(address=signer))
        if expires is not None and now_ms > int(expires):
            return _err(rules.EXPIRED)
        refusal = self.nonces.check_and_use(signer, nonce, now_ms)
        if refusal:
            return _err(refusal)
        kind = action.get("type")
        refusal = self.budget.take(acct.address, _action_count(action), acct.volume)
        if refusal:
            return _err(refusal)
        handler = {
            "order": self._act_order,
            "cancel": self._act_cancel,
            "cancelByCloid": self._act_cancel_by_cloid,
            "batchModify": self._act_batch_modify,
            "scheduleCancel": self._act_schedule_cancel,
            "updateLeverage": self._act_update_leverage,
        }.get(kind)  # type: ignore[arg-type]
        if handler is None:
            return _err(rules.UNKNOWN_ACTION.format(kind=kind))
        try:
            return handler(acct, action, now_ms)
        except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
            # A field of the wrong shape: Hyperliquid cannot deserialize it either.
            raise MalformedAction(str(exc)) from exc

    def _approve_agent(self, action: dict, signature: dict, nonce: int, now_ms: int) -> dict:
        """approveAgent: the master account lets `agentAddress` sign its L1 actions."""
        try:
            master = recover_agent_approver(action, signature)
        except SignatureUnrecoverable:
            return _err(rules.UNRECOVERABLE)
        acct = self.accounts.get(master)
        if acct is None or acct.exempt:
            return _err(rules.UNKNOWN_SIGNER.format(address=master))
        refusal = self.nonces.check_and_use(master, nonce, now_ms)
        if refusal:
            return _err(refusal)
        agent = str(action.get("agentAddress", "")).lower()
        if len(agent) != 42 or not agent.startswith("0x"):
            raise MalformedAction("agentAddress")
        self.agents[agent] = master
        logger.info("API wallet {} approved for {}", agent, master)
        return _ok("default")

    def _act_order(self, acct: Account, action: dict, now_ms: int) -> dict:
        statuses = [self.place(acct, wire, now_ms) for wire in action.get("orders", [])]
        return _ok("order", {"statuses": statuses})

    def _act_cancel(self, acct: Account, action: dict, now_ms: int) -> dict:
        statuses = []
        for c in action.get("cancels", []):
            asset, oid = c.get("a"), c.get("o")
            order = self.open_by_user.get(acct.address, {}).get(oid) if isinstance(oid, int) else None
            if order is None or order.asset != asset:
                statuses.append({"error": rules.with_asset(rules.CANCEL_MISSING, asset)})
                continue
            self.cancel_order(order, "canceled", now_ms)
            statuses.append("success")
        return _ok("cancel", {"statuses": statuses})

    def _act_cancel_by_cloid(self, acct: Account, action: dict, now_ms: int) -> dict:
        statuses = []
        for c in action.get("cancels", []):
            asset, cloid = c.get("asset"), str(c.get("cloid", "")).lower()
            oid = self.cloids.get((acct.address, cloid))
            order = self.open_by_user.get(acct.address, {}).get(oid) if oid is not None else None
            if order is None or order.asset != asset:
                statuses.append({"error": rules.with_asset(rules.CANCEL_MISSING, asset)})
                continue
            self.cancel_order(order, "canceled", now_ms)
            statuses.append("success")
        return _ok("cancel", {"statuses": statuses})

    def _act_batch_modify(self, acct: Account, action: dict, now_ms: int) -> dict:
        statuses = []
        for m in action.get("modifies", []):
            ref = m.get("oid")
            if isinstance(ref, str):
                oid = self.cloids.get((acct.address, ref.lower()))
            else:
                oid = ref
            order = self.open_by_user.get(acct.address, {}).get(oid) if oid is not None else None
            if order is None:
                statuses.append({"error": "Cannot modify canceled or filled order"})  # (unconfirmed)
                continue
            self.cancel_order(order, "canceled", now_ms, notify=False)
            statuses.append(self.place(acct, m.get("order", {}), now_ms))
        # Each status is the replacement order's, as for "order" (response type: unconfirmed).
        return _ok("batchModify", {"statuses": statuses})

    def _act_schedule_cancel(self, acct: Account, action: dict, now_ms: int) -> dict:
        when = action.get("time")
        if when is None:
            self.schedule.pop(acct.address, None)
            return _ok("default")
        required = Decimal(self.config.schedule_cancel_min_volume_usd)
        if acct.volume < required:
            return _err(
                rules.SCHEDULE_VOLUME.format(
                    required=fmt(required), traded=fmt(acct.volume.quantize(Decimal("0.01")))
                )
            )
        if int(when) < now_ms + 5_000:
            return _err(rules.SCHEDULE_TOO_EARLY)
        day = now_ms // DAY_MS
        if self.schedule_triggers.get((acct.address, day), 0) >= self.config.schedule_cancel_max_triggers_per_day:
            return _err(rules.SCHEDULE_TOO_MANY)
        self.schedule[acct.address] = int(when)
        return _ok("default")

    def _act_update_leverage(self, acct: Account, action: dict, now_ms: int) -> dict:
        asset = action.get("asset")
        lev = action.get("leverage")
        coin = self._coin_of(asset)
        if coin is None:
            return _err(rules.UNKNOWN_ASSET.format(asset=asset))
        if not isinstance(lev, int) or lev < 1 or lev > self.max_lev[coin]:
            return _err(rules.LEVERAGE_INVALID)
        old = acct.leverage.get(coin)
        acct.leverage[coin] = lev
        marks = self.marks()
        if not acct.exempt and acct.margin_used(marks, self.max_lev) > acct.account_value(marks):
            if old is None:
                acct.leverage.pop(coin)
            else:
                acct.leverage[coin] = old
            return _err(rules.MARGIN)
        return _ok("default")

    # ----------------------------------------------------------------- order entry
    def _coin_of(self, asset: Any) -> str | None:
        if isinstance(asset, int) and not isinstance(asset, bool) and 0 <= asset < len(self.coins):
            return self.coins[asset]
        return None

    def _new_oid(self) -> int:
        self.next_oid += 1
        return self.next_oid

    def place(self, acct: Account, wire: dict, now_ms: int) -> dict:
        """Validate and execute one order wire; returns its entry of `statuses`."""
        asset = wire.get("a")
        coin = self._coin_of(asset)
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
                order.oid = self._new_oid()
                self._remember(order, status, now_ms)
            return {"error": rules.with_asset(text, asset)}

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
            order.oid = self._new_oid()
            self.triggers[order.oid] = order
            self._remember(order, "open", now_ms)
            self._order_update(order, "open", now_ms)
            return _resting(order)
        # Reduce-only triggers are judged when they fire (a stop may be placed before its position).
        szi = acct.szi(coin)
        if reduce_only and (szi == 0 or (szi > 0) == is_buy):
            return reject(rules.REDUCE_ONLY, "reduceOnlyRejected")
        book = self.books[coin]
        if tif == "Alo" and book.crosses(is_buy, px):
            bbo = f"{fmt(book.best_bid() or ZERO)}@{fmt(book.best_ask() or ZERO)}"
            return reject(rules.BAD_ALO.format(bbo=bbo), "badAloPxRejected")
        if not reduce_only and not acct.exempt and not self._margin_ok(acct, order):
            return reject(rules.MARGIN, "perpMarginRejected")
        if tif == "Ioc" and not book.crosses(is_buy, px):
            return reject(rules.IOC_CANCEL, "iocCancelRejected")
        order.oid = self._new_oid()
        if cloid:
            self.cloids[(acct.address, cloid)] = order.oid
        filled, notional = self._match(order, now_ms)
        if order.sz > 0 and tif != "Ioc":
            book.add(order)
            self.open_by_user.setdefault(acct.address, {})[order.oid] = order
            self._remember(order, "open", now_ms)
            self._order_update(order, "open", now_ms)
            return _resting(order)
        if filled == 0:
            self._remember(order, "iocCancelRejected", now_ms)
            return {"error": rules.with_asset(rules.IOC_CANCEL, asset)}
        status = "filled" if order.sz == 0 else "canceled"
        self._remember(order, status, now_ms)
        self._order_update(order, status, now_ms)
        avg = (notional / filled).quantize(Decimal("1e-8")).normalize()
        out: dict[str, Any] = {"totalSz": fmt(filled), "avgPx": fmt(avg), "oid": order.oid}
        if order.cloid:
            out["cloid"] = order.cloid
        return {"filled": out}

    def _margin_ok(self, acct: Account, incoming: Order) -> bool:
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

    def _match(self, taker: Order, now_ms: int) -> tuple[Decimal, Decimal]:
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
                mroom = abs(self.accounts[maker.user].szi(maker.coin))
                if mroom == 0:
                    self.cancel_order(maker, "reduceOnlyCanceled", now_ms)
                    continue
                sz = min(sz, mroom)
            px = maker.px
            trades.append(self._fill(taker, maker, px, sz, now_ms))
            taker.sz -= sz
            filled += sz
            notional += px * sz
        if trades:
            self.outbox.append(("trades", taker.coin, trades))
        return filled, notional

    def _fill(
        self, taker: Order, maker: Order, px: Decimal, sz: Decimal, now_ms: int, liquidation: dict | None = None
    ) -> dict:
        """Book one match for both sides; returns the public trade."""
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
                    self._remember(maker, "filled", now_ms)
                    self._order_update(maker, "filled", now_ms)
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
            self._record_fill(acct.address, fill)
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

    def _record_fill(self, user: str, fill: dict) -> None:
        self.fills.setdefault(user, []).append(fill)
        self.outbox.append(("userFills", user, {"isSnapshot": False, "user": user, "fills": [fill]}))
        self.outbox.append(("user", user, {"fills": [fill]}))

    def cancel_order(self, order: Order, status: str, now_ms: int, notify: bool = True) -> None:
        if order.oid in self.triggers:
            del self.triggers[order.oid]
        else:
            self.books[order.coin].remove(order)
        self.open_by_user.get(order.user, {}).pop(order.oid, None)
        self._remember(order, status, now_ms)
        if notify:
            self._order_update(order, status, now_ms)

    def _remember(self, order: Order, status: str, now_ms: int) -> None:
        if order.is_synthetic:
            return
        self.records[order.oid] = OrderRecord(order=order, status=status, status_ts=now_ms)
        if order.cloid:
            self.cloids[(order.user, order.cloid)] = order.oid
        if status == "open" and order.trigger_px is not None:
            self.open_by_user.setdefault(order.user, {})[order.oid] = order

    def _order_update(self, order: Order, status: str, now_ms: int) -> None:
        if order.is_synthetic:
            return
        data = {
            "coin": order.coin,
            "side": order.side,
            "limitPx": fmt(order.px),
            "sz": fmt(order.sz),
            "oid": order.oid,
            "timestamp": order.timestamp,
            "origSz": fmt(order.orig_sz),
        }
        if order.cloid:
            data["cloid"] = order.cloid
        self.outbox.append(("orderUpdates", order.user, [{"order": data, "status": status, "statusTimestamp": now_ms}]))

    # ----------------------------------------------------------------- the clock
    def tick(self, now_ms: int, step_market: bool = True) -> None:
        """One market step: move prices, requote liquidity, fire triggers, dead-man switches,
        funding and liquidations that are due at `now_ms`."""
        self.now_ms = now_ms
        if step_market:
            self.market.step()
        for coin, px in self.market.fair.items():
            self.market.candles.update(coin, px, now_ms)
        self._requote(now_ms)
        self._fire_triggers(now_ms)
        self._fire_schedules(now_ms)
        self._fund(now_ms)
        self._liquidate(now_ms)

    def jump(self, coin: str, px: Decimal, now_ms: int) -> None:
        """Move the fair price of `coin` at once and let everything react."""
        self.market.jump(coin, px)
        self.tick(now_ms, step_market=False)

    def _requote(self, now_ms: int) -> None:
        """Replace the synthetic liquidity around the fair price; quotes that cross resting user
        orders trade with them first (that is how a moving market fills resting orders)."""
        cfg = self.config
        half = Decimal(cfg.mm_half_spread_bps) / BPS
        step = Decimal(cfg.mm_level_step_bps) / BPS
        level_usd = Decimal(cfg.mm_level_usd)
        for coin in self.coins:
            book = self.books[coin]
            for order in [o for o in book.orders() if o.is_synthetic]:
                book.remove(order)
            fair = self.market.fair[coin]
            spec = self.specs[coin]
            lot = Decimal(1).scaleb(-spec.sz_decimals)
            ladder = self.market.ladder(coin)
            for is_buy in (False, True):
                if ladder is not None:
                    levels = ladder[0] if is_buy else ladder[1]
                    quotes = [(rules.round_price(px, spec.sz_decimals, up=not is_buy), sz) for px, sz in levels]
                else:
                    quotes = []
                    for i in range(cfg.mm_levels):
                        off = half + step * i
                        raw = fair * (1 - off) if is_buy else fair * (1 + off)
                        px = rules.round_price(raw, spec.sz_decimals, up=not is_buy)
                        quotes.append((px, max(lot, (level_usd / px).quantize(lot, rounding="ROUND_DOWN"))))
                for px, sz in quotes:
                    if px <= 0 or sz <= 0:
                        continue
                    order = Order(
                        oid=self._new_oid(), coin=coin, asset=self.asset_of[coin], user=MARKET_MAKER,
                        is_buy=is_buy, px=px, sz=sz, orig_sz=sz, tif="Gtc", timestamp=now_ms, is_synthetic=True,
                    )
                    self._match(order, now_ms)
                    if order.sz > 0:
                        book.add(order)

    def _fire_triggers(self, now_ms: int) -> None:
        marks = self.marks()
        for order in list(self.triggers.values()):
            mark = marks[order.coin]
            assert order.trigger_px is not None
            # A stop fires when the price moves against the position it protects, a take-profit
            # when it moves in its favour: sell-sl and buy-tp below, sell-tp and buy-sl above.
            above = (order.tpsl == "tp") != order.is_buy
            if (above and mark < order.trigger_px) or (not above and mark > order.trigger_px):
                continue
            del self.triggers[order.oid]
            self.open_by_user.get(order.user, {}).pop(order.oid, None)
            self._remember(order, "triggered", now_ms)
            self._order_update(order, "triggered", now_ms)
            acct = self.accounts[order.user]
            szi = acct.szi(order.coin)
            if order.reduce_only and (szi == 0 or (szi > 0) == order.is_buy):
                self._remember(order, "reduceOnlyCanceled", now_ms)
                self._order_update(order, "reduceOnlyCanceled", now_ms)
                continue
            order.tif = "Ioc" if order.is_market else "Gtc"
            trigger_px = order.trigger_px
            order.trigger_px = None
            filled, _ = self._match(order, now_ms)
            if order.sz > 0 and not order.is_market:
                self.books[order.coin].add(order)
                self.open_by_user.setdefault(order.user, {})[order.oid] = order
                self._remember(order, "open", now_ms)
            else:
                status = "filled" if order.sz == 0 else "canceled"
                self._remember(order, status, now_ms)
                self._order_update(order, status, now_ms)
            order.trigger_px = trigger_px

    def _fire_schedules(self, now_ms: int) -> None:
        for user, when in list(self.schedule.items()):
            if now_ms < when:
                continue
            del self.schedule[user]
            day = now_ms // DAY_MS
            self.schedule_triggers[(user, day)] = self.schedule_triggers.get((user, day), 0) + 1
            canceled = []
            for order in list(self.open_by_user.get(user, {}).values()):
                self.cancel_order(order, "scheduledCancel", now_ms)
                canceled.append({"coin": order.coin, "oid": order.oid})
            logger.info("dead-man switch fired for {}: {} orders canceled", user, len(canceled))

    def _fund(self, now_ms: int) -> None:
        """Pay every funding interval that ended since the last call (a clock jump pays each)."""
        slot = now_ms // self.config.funding_interval_ms
        first = max(self.last_funding_slot + 1, slot - 24 * 7)
        for due in range(first, slot + 1):
            self._fund_once(due * self.config.funding_interval_ms)
        self.last_funding_slot = max(self.last_funding_slot, slot)

    def _fund_once(self, at: int) -> None:
        interest = Decimal(self.config.funding_interest_8h)
        cap = Decimal(self.config.funding_cap_hourly)
        for coin in self.coins:
            oracle = self.market.fair[coin]
            premium = (self.mid(coin) - oracle) / oracle
            clamp = max(Decimal("-0.0005"), min(Decimal("0.0005"), interest - premium))
            rate = max(-cap, min(cap, (premium + clamp) / 8)).quantize(Decimal("1e-10")).normalize()
            self.funding_rate[coin] = rate
            self.funding_history[coin].append(
                {"coin": coin, "fundingRate": fmt(rate), "premium": fmt(premium.quantize(Decimal("1e-10"))), "time": at}
            )
            for acct in self.accounts.values():
                szi = acct.szi(coin)
                if szi == 0:
                    continue
                amount = szi * oracle * rate  # exact: the payments of all sides sum to zero
                acct.pay_funding(coin, amount)
                if not acct.exempt:
                    self.outbox.append(
                        (
                            "user",
                            acct.address,
                            {"funding": {"time": at, "coin": coin, "usdc": fmt(-amount), "szi": fmt(szi), "fundingRate": fmt(rate)}},
                        )
                    )

    def _liquidate(self, now_ms: int) -> None:
        marks = self.marks()
        mm = self.accounts[MARKET_MAKER]
        for acct in list(self.accounts.values()):
            if acct.exempt or not any(p.szi for p in acct.positions.values()):
                continue
            value = acct.account_value(marks)
            if value >= acct.maintenance_margin(marks, self.max_lev):
                continue
            ntl = acct.notional(marks)
            for order in list(self.open_by_user.get(acct.address, {}).values()):
                self.cancel_order(order, "liquidatedCanceled", now_ms)
            for coin, pos in list(acct.positions.items()):
                if pos.szi == 0:
                    continue
                close = Order(
                    oid=self._new_oid(), coin=coin, asset=self.asset_of[coin], user=acct.address, is_buy=pos.szi < 0,
                    px=marks[coin], sz=abs(pos.szi), orig_sz=abs(pos.szi), tif="Ioc", timestamp=now_ms,
                )
                backstop = Order(
                    oid=self._new_oid(), coin=coin, asset=self.asset_of[coin], user=mm.address, is_buy=not close.is_buy,
                    px=marks[coin], sz=close.sz, orig_sz=close.sz, tif="Gtc", timestamp=now_ms, is_synthetic=True,
                )
                # The liquidator (the simulator's backstop) takes the position over at the mark.
                self.books[coin].add(backstop)
                detail = {"liquidatedUser": acct.address, "markPx": fmt(marks[coin]), "method": "market"}
                trade = self._fill(close, backstop, marks[coin], close.sz, now_ms, liquidation=detail)
                self.outbox.append(("trades", coin, [trade]))
                self.books[coin].remove(backstop)
            logger.info("liquidated {} (account value {}, notional {})", acct.address, value, ntl)
            self.outbox.append(
                (
                    "user",
                    acct.address,
                    {
                        "liquidation": {
                            "lid": self.next_tid,
                            "liquidator": MARKET_MAKER,
                            "liquidated_user": acct.address,
                            "liquidated_ntl_pos": fmt(ntl),
                            "liquidated_account_value": fmt(value),
                        }
                    },
                )
            )

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


def _ok(kind: str, data: Any = None) -> dict:
    response: dict[str, Any] = {"type": kind}
    if data is not None:
        response["data"] = data
    return {"status": "ok", "response": response}


def _err(text: str) -> dict:
    return {"status": "err", "response": text}


def _resting(order: Order) -> dict:
    out: dict[str, Any] = {"oid": order.oid}
    if order.cloid:
        out["cloid"] = order.cloid
    return {"resting": out}


def _action_count(action: dict) -> int:
    for key in ("orders", "cancels", "modifies"):
        if isinstance(action.get(key), list):
            return max(1, len(action[key]))
    return 1
