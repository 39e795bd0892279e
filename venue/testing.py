"""Start the venue in-process on a free loopback port, for tests of anything that talks to it.

- `async with run_sim(config) as sim:` in async code (the venue shares the test's event loop, so
  drive it with async clients only: the synchronous SDK would block the loop it needs).
- `with SimThread(config) as sim:` for the synchronous `hyperliquid-python-sdk`: the venue runs on
  its own event loop in a daemon thread; `sim.url` is the base URL to hand to `Info`/`Exchange`.

`quiet_config(*wallets)` is the usual test venue; `signed_post` sends a hand-built signed action.
Both handles expose the admin helpers (fund, jump, tick, advance, freeze, drop_websockets, fail_requests,
reject_orders, clear_faults) and `call(fn)`, which runs `fn(exchange_core)` on the venue's loop.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, AsyncIterator, Callable, TypeVar

from aiohttp import web

from venue.config import AccountSpec, SimConfig
from venue.engine import Exchange
from venue.mirror_feed import prepare
from venue.server import SimServer, build_app

T = TypeVar("T")


def quiet_config(*accounts: Any, usdc: str = "10000", **overrides: Any) -> SimConfig:
    """A venue for tests: free port, a frozen market that moves only when told (jump/tick), no
    background ticks, short history, and `accounts` (addresses or eth_account wallets) funded.

    The per-IP weight budget is lifted (every test client is 127.0.0.1 and polls); a test of rate
    limiting passes `ip_weight_per_minute=1200` back in."""
    fields: dict[str, Any] = dict(
        port=0,
        market="frozen",
        tick_ms=3_600_000,
        history_minutes=30,
        history_hours=0,
        ip_weight_per_minute=10**9,
        accounts=tuple(AccountSpec(address=getattr(a, "address", a), usdc=usdc) for a in accounts),
    )
    fields.update(overrides)
    return SimConfig(**fields)


def signed_post(url: str, wallet: Any, action: dict, nonce: int | None = None, timeout: float = 10.0) -> Any:
    """POST `action` to `url`/exchange signed as the SDK signs it (testnet source); the parsed reply."""
    import requests
    from hyperliquid.utils.signing import get_timestamp_ms, sign_l1_action

    nonce = get_timestamp_ms() if nonce is None else nonce
    signature = sign_l1_action(wallet, action, None, nonce, None, False)
    body = {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": None, "expiresAfter": None}
    return requests.post(url + "/exchange", json=body, timeout=timeout).json()


class SimHandle:
    """A running venue in this event loop."""

    def __init__(self, server: SimServer, runner: web.AppRunner, url: str) -> None:
        self.server = server
        self.runner = runner
        self.url = url
        self.ws_url = "ws" + url[len("http") :] + "/ws"

    @property
    def exchange(self) -> Exchange:
        return self.server.exchange

    async def fund(self, address: str, usdc: str | Decimal) -> None:
        self.server.fund(address, Decimal(str(usdc)))

    async def jump(self, coin: str, px: str | Decimal) -> None:
        await self.server.jump(coin, Decimal(str(px)))

    async def tick(self, n: int = 1) -> None:
        await self.server.tick(n)

    async def advance(self, ms: int) -> None:
        await self.server.advance(ms)

    async def admin(self, name: str, **body: Any) -> Any:
        return await self.server.admin(name, body)


async def _start(config: SimConfig) -> tuple[SimServer, web.AppRunner, str]:
    server = SimServer(await prepare(config))  # a mirror reads its source's meta first
    runner = web.AppRunner(build_app(server), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    return server, runner, f"http://{host}:{port}"


@asynccontextmanager
async def run_sim(config: SimConfig | None = None) -> AsyncIterator[SimHandle]:
    """Serve the venue on `config.host:config.port` (tests: port 0 picks a free one)."""
    config = config or SimConfig(port=0)
    server, runner, url = await _start(config)
    try:
        yield SimHandle(server, runner, url)
    finally:
        await runner.cleanup()


class SimThread:
    """The venue on its own event loop in a background thread, for synchronous clients."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig(port=0)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="venue-sim", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.server: SimServer | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.ws_url = ""

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.server, self._runner, self.url = self.loop.run_until_complete(_start(self.config))
            self.ws_url = "ws" + self.url[len("http") :] + "/ws"
        except BaseException as exc:  # surfaced to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._runner.cleanup())
        self.loop.close()

    def start(self, timeout: float = 30.0) -> "SimThread":
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the venue did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the venue failed to start: {self._error}") from self._error
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> "SimThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers (thread-safe)
    def call(self, fn: Callable[[Exchange], T], timeout: float = 30.0) -> T:
        """Run `fn(exchange)` on the venue's loop and return its result."""
        assert self.server is not None

        async def run() -> T:
            return fn(self.server.exchange)  # type: ignore[union-attr]

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def admin(self, name: str, timeout: float = 30.0, **body: Any) -> Any:
        assert self.server is not None
        return asyncio.run_coroutine_threadsafe(self.server.admin(name, body), self.loop).result(timeout)

    def now_ms(self) -> int:
        """The venue's clock (wall clock plus whatever `advance` added), ms."""
        assert self.server is not None
        return self.server.now_ms()

    def fund(self, address: str, usdc: str | Decimal) -> None:
        self.admin("fund", address=address, usdc=str(usdc))

    def jump(self, coin: str, px: str | Decimal) -> None:
        self.admin("jump", coin=coin, px=str(px))

    def tick(self, n: int = 1) -> None:
        self.admin("tick", n=n)

    def advance(self, ms: int) -> None:
        self.admin("advance", ms=ms)

    def freeze(self, frozen: bool = True) -> None:
        self.admin("freeze", frozen=frozen)

    def drop_websockets(self) -> int:
        return self.admin("drop_ws")

    def fail_requests(self, path: str = "*", count: int = 1, status: int = 500, delay_ms: int = 0, body: str = "") -> None:
        self.admin("fail_requests", path=path, count=count, status=status, delay_ms=delay_ms, body=body)

    def reject_orders(self, count: int, text: str = "") -> None:
        self.admin("reject_orders", count=count, text=text)

    def clear_faults(self) -> None:
        self.admin("clear_faults")
