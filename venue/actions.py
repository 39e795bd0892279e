"""The signed /exchange actions: signature and nonce checks, then order, cancel, cancelByCloid,
batchModify, scheduleCancel, updateLeverage and approveAgent, answered as Hyperliquid answers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from loguru import logger

from venue import rules
from venue.accounts import Account
from venue.limits import DAY_MS
from venue.signing import SignatureUnrecoverable, recover_agent_approver, recover_signer
from venue.wire import fmt


if TYPE_CHECKING:
    from venue.engine import Exchange


class MalformedAction(ValueError):
    """The body is not an action envelope (Hyperliquid answers HTTP 422)."""


def handle_action(ex: Exchange, body: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """Verify and run one signed action; the reply is what Hyperliquid would send."""
    ex.now_ms = now_ms
    action = body.get("action")
    nonce = body.get("nonce")
    signature = body.get("signature")
    if not isinstance(action, dict) or not isinstance(nonce, int) or not isinstance(signature, dict):
        raise MalformedAction("not an action envelope")
    if action.get("type") == "approveAgent":
        return approve_agent(ex, action, signature, nonce, now_ms)
    vault = body.get("vaultAddress")
    expires = body.get("expiresAfter")
    if (expires is not None and not isinstance(expires, int)) or (vault is not None and not isinstance(vault, str)):
        raise MalformedAction("expiresAfter or vaultAddress")
    try:
        signer = recover_signer(action, signature, nonce, vault, expires)
    except SignatureUnrecoverable:
        return _err(rules.UNRECOVERABLE)
    # An approved API wallet signs for its master account; nonces stay per signer.
    owner = ex.agents.get(signer, signer)
    acct = ex.accounts.get(owner)
    if acct is None and ex.auto_fund > 0:
        acct = ex.fund(signer, ex.auto_fund)
    if acct is None or acct.exempt:
        return _err(rules.UNKNOWN_SIGNER.format(address=signer))
    if expires is not None and now_ms > expires:
        return _err(rules.EXPIRED)
    refusal = ex.nonces.check_and_use(signer, nonce, now_ms)
    if refusal:
        return _err(refusal)
    kind = action.get("type")
    refusal = ex.budget.take(acct.address, _action_count(action), acct.volume)
    if refusal:
        return _err(refusal)
    handler = {
        "order": act_order,
        "cancel": act_cancel,
        "cancelByCloid": act_cancel_by_cloid,
        "batchModify": act_batch_modify,
        "scheduleCancel": act_schedule_cancel,
        "updateLeverage": act_update_leverage,
    }.get(kind)  # type: ignore[arg-type]
    if handler is None:
        return _err(rules.UNKNOWN_ACTION.format(kind=kind))
    try:
        return handler(ex, acct, action, now_ms)
    except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
        # A field of the wrong shape: Hyperliquid cannot deserialize it either.
        raise MalformedAction(str(exc)) from exc


def approve_agent(ex: Exchange, action: dict, signature: dict, nonce: int, now_ms: int) -> dict:
    """approveAgent: the master account lets `agentAddress` sign its L1 actions."""
    try:
        master = recover_agent_approver(action, signature)
    except SignatureUnrecoverable:
        return _err(rules.UNRECOVERABLE)
    acct = ex.accounts.get(master)
    if acct is None or acct.exempt:
        return _err(rules.UNKNOWN_SIGNER.format(address=master))
    refusal = ex.nonces.check_and_use(master, nonce, now_ms)
    if refusal:
        return _err(refusal)
    agent = str(action.get("agentAddress", "")).lower()
    if len(agent) != 42 or not agent.startswith("0x"):
        raise MalformedAction("agentAddress")
    ex.agents[agent] = master
    logger.info("API wallet {} approved for {}", agent, master)
    return _ok("default")


def act_order(ex: Exchange, acct: Account, action: dict, now_ms: int) -> dict:
    wires = action.get("orders", [])
    grouping = action.get("grouping", "na")
    if grouping == "normalTpsl" and len(wires) > 1:
        return _ok("order", {"statuses": _normal_tpsl(ex, acct, wires, now_ms)})
    statuses = [ex.place(acct, wire, now_ms) for wire in wires]
    if grouping == "positionTpsl":
        # TP/SL attached to the position: each placed trigger answers "waitingForTrigger", and
        # when one fires its siblings are canceled.
        placed = [s["resting"]["oid"] for s in statuses if isinstance(s, dict) and "resting" in s]
        ex.link_siblings(placed, position_tpsl=True)
        statuses = ["waitingForTrigger" if isinstance(s, dict) and "resting" in s else s for s in statuses]
    return _ok("order", {"statuses": statuses})


def _normal_tpsl(ex: Exchange, acct: Account, wires: list, now_ms: int) -> list:
    """A parent order and its TP/SL children: the children wait for the parent to fill
    ("waitingForFill"), then become trigger orders ("waitingForTrigger")."""
    parent, children = wires[0], wires[1:]
    for child in children:
        if not (isinstance(child, dict) and isinstance(child.get("t"), dict) and "trigger" in child["t"]):
            raise MalformedAction("normalTpsl children must be trigger orders")
    first = ex.place(acct, parent, now_ms)
    if "error" in first:
        return [first] + [dict(first) for _ in children]  # (unconfirmed) the group fails together
    if "filled" in first:
        placed = [ex.place(acct, child, now_ms) for child in children]
        ex.link_siblings([s["resting"]["oid"] for s in placed if "resting" in s])
        return [first] + ["waitingForTrigger" if "resting" in s else s for s in placed]
    ex.pending_children[first["resting"]["oid"]] = list(children)
    return [first] + ["waitingForFill" for _ in children]


def _cancel_each(ex: Exchange, acct: Account, items: list, now_ms: int, find) -> dict:
    """Cancel each requested order that `find(item) -> (asset, oid)` names; one status each."""
    statuses = []
    for item in items:
        asset, oid = find(item)
        order = ex.open_by_user.get(acct.address, {}).get(oid) if oid is not None else None
        if order is None or order.asset != asset:
            statuses.append({"error": rules.with_asset(rules.CANCEL_MISSING, asset)})
            continue
        ex.cancel_order(order, "canceled", now_ms)
        statuses.append("success")
    return _ok("cancel", {"statuses": statuses})


def act_cancel(ex: Exchange, acct: Account, action: dict, now_ms: int) -> dict:
    def by_oid(c: dict):
        oid = c.get("o")
        return c.get("a"), oid if isinstance(oid, int) else None

    return _cancel_each(ex, acct, action.get("cancels", []), now_ms, by_oid)


def act_cancel_by_cloid(ex: Exchange, acct: Account, action: dict, now_ms: int) -> dict:
    # cancelByCloid names its fields differently: {"asset", "cloid"} instead of {"a", "o"}
    def by_cloid(c: dict):
        cloid = str(c.get("cloid", "")).lower()
        return c.get("asset"), ex.cloids.get((acct.address, cloid))

    return _cancel_each(ex, acct, action.get("cancels", []), now_ms, by_cloid)


def act_batch_modify(ex: Exchange, acct: Account, action: dict, now_ms: int) -> dict:
    statuses = []
    for m in action.get("modifies", []):
        ref = m.get("oid")
        if isinstance(ref, str):
            oid = ex.cloids.get((acct.address, ref.lower()))
        else:
            oid = ref
        order = ex.open_by_user.get(acct.address, {}).get(oid) if oid is not None else None
        if order is None:
            statuses.append({"error": "Cannot modify canceled or filled order"})  # (unconfirmed)
            continue
        ex.cancel_order(order, "canceled", now_ms, notify=False)
        statuses.append(ex.place(acct, m.get("order", {}), now_ms))
    # Each status is the replacement order's, as for "order" (response type: unconfirmed).
    return _ok("batchModify", {"statuses": statuses})


def act_schedule_cancel(ex: Exchange, acct: Account, action: dict, now_ms: int) -> dict:
    when = action.get("time")
    if when is None:
        ex.schedule.pop(acct.address, None)
        return _ok("default")
    required = Decimal(ex.config.schedule_cancel_min_volume_usd)
    if acct.volume < required:
        return _err(
            rules.SCHEDULE_VOLUME.format(
                required=fmt(required), traded=fmt(acct.volume.quantize(Decimal("0.01")))
            )
        )
    if int(when) < now_ms + 5_000:
        return _err(rules.SCHEDULE_TOO_EARLY)
    day = now_ms // DAY_MS
    if ex.schedule_triggers.get((acct.address, day), 0) >= ex.config.schedule_cancel_max_triggers_per_day:
        return _err(rules.SCHEDULE_TOO_MANY)
    ex.schedule[acct.address] = int(when)
    return _ok("default")


def act_update_leverage(ex: Exchange, acct: Account, action: dict, now_ms: int) -> dict:
    asset = action.get("asset")
    lev = action.get("leverage")
    coin = ex.coin_of(asset)
    if coin is None:
        return _err(rules.UNKNOWN_ASSET.format(asset=asset))
    if not isinstance(lev, int) or lev < 1 or lev > ex.max_lev[coin]:
        return _err(rules.LEVERAGE_INVALID)
    old = acct.leverage.get(coin)
    acct.leverage[coin] = lev
    marks = ex.marks()
    if not acct.exempt and acct.margin_used(marks, ex.max_lev) > acct.account_value(marks):
        if old is None:
            acct.leverage.pop(coin)
        else:
            acct.leverage[coin] = old
        return _err(rules.MARGIN)
    return _ok("default")


def _ok(kind: str, data: Any = None) -> dict:
    response: dict[str, Any] = {"type": kind}
    if data is not None:
        response["data"] = data
    return {"status": "ok", "response": response}


def _err(text: str) -> dict:
    return {"status": "err", "response": text}


def _action_count(action: dict) -> int:
    for key in ("orders", "cancels", "modifies"):
        if isinstance(action.get(key), list):
            return max(1, len(action[key]))
    return 1
