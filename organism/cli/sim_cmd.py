"""`organism sim`: run the local Hyperliquid-compatible exchange until SIGINT or SIGTERM.

When the organism watches a real market (`venue.market_data` testnet or mainnet), the local
exchange mirrors that market (`mirror:` + its URL, or `market_data.url` when set) whatever
`[venue.sim].market` says, so paper orders fill against the real book: the local exchange is
then only where paper (or a rehearsing live account) trades. `--market` still wins.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

import msgspec
from loguru import logger

from venue.config import CoinSpec, SimConfig
from venue.mirror import MIRROR, is_mirror

MARKETS = ("synthetic", "frozen", "mirror:URL", "candles:PATH", "l2:PATH")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim",
        help="run the local Hyperliquid-compatible exchange (the offline venue)",
        description="Serve Hyperliquid's /info, /exchange and /ws on loopback, driven by a seeded market.",
    )
    p.add_argument("--host", help="address to bind (default: [venue.sim].host)")
    p.add_argument("--port", type=int, help="port to bind, 0 for a free one (default: [venue.sim].port)")
    p.add_argument("--market", metavar="SPEC",
                   help=f"market driver: {' | '.join(MARKETS)} (default: [venue.sim].market, or "
                        "mirror: of venue.market_data's venue when that is testnet or mainnet)")
    p.add_argument("--seed", type=int, help="seed of the synthetic market (default: [venue.sim].seed)")
    p.set_defaults(func=run)


def sim_config(args: argparse.Namespace) -> SimConfig:
    """[venue.sim] from the organism config (when it can be loaded), then the command-line flags."""
    base, watched = _configured(getattr(args, "config", None) or os.environ.get("ORGANISM_CONFIG") or None)
    overrides = {k: getattr(args, k) for k in ("host", "port", "market", "seed") if getattr(args, k, None) is not None}
    config = msgspec.structs.replace(base, **overrides)
    if not is_mirror(config.market):
        return config
    # a mirror also serves every coin the organism watches (lots and prices come from the source)
    known = {c.name for c in config.coins}
    extra = tuple(CoinSpec(name=c, sz_decimals=0, max_leverage=1, start_px="1")
                  for c in watched if c not in known)
    return msgspec.structs.replace(config, coins=config.coins + extra)


def _configured(path: str | None) -> tuple[SimConfig, list[str]]:
    """[venue.sim] and the coins the organism watches (market.coins). The organism's own
    accounts are added: every account whose network is `sim` (paper and live on the defaults)
    is funded with its capital_usdc at the address of its key under the data folder (generated
    on first use; venue/keys.py). The market is `local_market`'s."""
    import agents.sections  # noqa: F401
    from settings import load_config
    from venue.keys import sim_accounts

    config = load_config(path)
    sim = config.venue.sim
    listed = {a.address.lower() for a in sim.accounts}
    ours = tuple(a for a in sim_accounts(config.venue, config.data_dir) if a.address not in listed)
    sim = msgspec.structs.replace(sim, accounts=sim.accounts + ours, market=local_market(config))
    return sim, list(config.market.coins)


def local_market(config) -> str:
    """The market the local exchange runs: `[venue.sim].market`, unless the organism watches a
    real market (venue.market_data testnet or mainnet): then a mirror of where the market-data
    agent reads it (market_data.url when set, else that network's URL), so paper trades the
    real book at real prices."""
    venue = config.venue
    if venue.market_data == "sim" or is_mirror(venue.sim.market):
        return venue.sim.market
    override = getattr(getattr(config, "market_data", None), "url", "") or ""
    return MIRROR + (override.rstrip("/") or venue.url(venue.market_data))


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(sim_config(args)))


async def _serve(config: SimConfig) -> int:
    from aiohttp import web

    from venue.mirror_feed import MirrorError, prepare
    from venue.server import SimServer, build_app

    try:
        config = await prepare(config)  # a mirror: its coins' lots and prices from the source
        server = SimServer(config)
    except MirrorError as exc:
        print(f"organism sim: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError, KeyError) as exc:
        print(f"organism sim: error: cannot start the market {config.market!r}: {exc}", file=sys.stderr)
        return 2
    runner = web.AppRunner(build_app(server), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    following = ""
    if server.mirror is not None:
        following = (f", mirroring {server.mirror.url}: paper orders fill against its book and "
                     "never reach it")
    print(f"venue: local Hyperliquid-compatible exchange at http://{host}:{port} (ws://{host}:{port}/ws)"
          f"{following}", flush=True)
    logger.info("venue serving on {}:{} market={} seed={}", host, port, config.market, config.seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    logger.info("venue stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="organism")
    parser.add_argument("--config", metavar="FILE")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
