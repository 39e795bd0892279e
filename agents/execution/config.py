"""The `[execution]` config table: how the execution agent talks to the venue, reconciles and
protects positions. One table for both accounts (each account runs its own process)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec

from settings import register_section

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]


class ExecutionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Leverage per coin, set at start with cross margin (updateLeverage isCross=true); coins not
    # listed get default_leverage. Risk's leverage checks read the same numbers.
    default_leverage: Annotated[int, msgspec.Meta(ge=1, le=50)] = 3
    leverage: dict[str, Annotated[int, msgspec.Meta(ge=1, le=50)]] = {}
    cross_margin: bool = True
    # Market orders are IOC limits this far through the reference price at most (bps), unless
    # the command carries its own max_slippage_bps.
    slippage_bps: Positive = 50.0
    # Protective stops: a reduce-only stop-market trigger per coin's net position, this fraction
    # of the entry price away (0.15 = 15 %: a catastrophe, not a trading stop). 0 = off.
    protective_stop_fraction: str = "0.15"
    # The venue's dead-man switch (scheduleCancel), re-armed every heartbeat this far ahead (s).
    # 0 = off, the default: when it fires it cancels every open order, the protective stops
    # included, and would leave positions naked while the organism is down (README).
    dead_man_s: NonNegative = 0.0
    # A command run before every send while set (e.g. "nordvpn status"): exit status 0 = the VPN
    # is up; otherwise nothing is sent and ExecutionStatus says not_ready (risk halts).
    vpn_check: str = ""
    vpn_check_interval_s: Positive = 10.0
    # Reconciliation: nothing is sent until the venue's orders, positions and fills agree with
    # ours; give up (and alarm, not_ready) after start_timeout_s, trying again every minute.
    start_timeout_s: Positive = 30.0
    reconcile_interval_s: Positive = 60.0
    # An order unacknowledged this long is asked for by cloid before it is declared lost.
    ack_timeout_s: Positive = 3.0
    # An order the venue provably never received (unknown by cloid after its expiresAfter) is
    # sent again while its command is younger than this; older, it is declared lost.
    resend_within_s: Positive = 60.0
    # The venue may lag a placement this long: an order of ours it does not list yet is not
    # "corrected" away within this window.
    venue_lag_s: Positive = 10.0
    # HTTP to the venue: per-request timeout, retries of temporary errors (timeouts, 5xx, 429)
    # with jittered exponential backoff.
    request_timeout_s: Positive = 5.0
    retries: Annotated[int, msgspec.Meta(ge=0, le=20)] = 4
    backoff_initial_s: Positive = 0.2
    backoff_max_s: Positive = 5.0
    # How often the per-address action budget (userRateLimit) is read (s).
    rate_limit_refresh_s: Positive = 30.0
    # Fill history read at start and after every reconnect (h); fills older are not replayed.
    fills_lookback_h: Positive = 72.0

    def __post_init__(self) -> None:
        try:
            stop = Decimal(self.protective_stop_fraction)
        except ArithmeticError:
            raise ValueError("execution.protective_stop_fraction must be a decimal fraction "
                             f"such as \"0.15\", got {self.protective_stop_fraction!r}") from None
        if not stop.is_finite() or not (0 <= stop < 1):
            raise ValueError("execution.protective_stop_fraction must be in [0, 1), got "
                             f"{self.protective_stop_fraction!r}")
        if 0 < self.dead_man_s <= 5:
            raise ValueError("execution.dead_man_s must be 0 (off) or more than 5 s: the venue "
                             "refuses a scheduled cancel less than 5 s ahead")

    def leverage_of(self, coin: str) -> int:
        return self.leverage.get(coin, self.default_leverage)

    @property
    def stop_fraction(self) -> Decimal:
        return Decimal(self.protective_stop_fraction)


register_section("execution", ExecutionConfig)
