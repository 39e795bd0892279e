"""`organism sim`: run the local Hyperliquid-compatible exchange until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

import msgspec
from loguru import logger

from venue.config import SimConfig

MARKETS = ("synthetic", "frozen", "candles:PATH", "l2:PATH")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim",
        help="run the local Hyperliquid-compatible exchange (the offline venue)",
        description="Serve Hyperliquid's /info, /exchange and /ws on loopback, driven by a seeded market.",
    )
    p.add_argument("--host", help="address to bind (default: [venue.sim].host)")
    p.add_argument("--port", type=int, help="port to bind, 0 for a free one (default: [venue.sim].port)")
    p.add_argument("--market", metavar="SPEC", help=f"market driver: {' | '.join(MARKETS)} (default: [venue.sim].market)")
    p.add_argument("--seed", type=int, help="seed of the synthetic market (default: [venue.sim].seed)")
    p.set_defaults(func=run)


def sim_config(args: argparse.Namespace) -> SimConfig:
    """[venue.sim] from the organism config (when it can be loaded), then the command-line flags."""
    base = _configured(getattr(args, "config", None) or os.environ.get("ORGANISM_CONFIG") or None)
    overrides = {k: getattr(args, k) for k in ("host", "port", "market", "seed") if getattr(args, k, None) is not None}
    return msgspec.structs.replace(base, **overrides)


def _configured(path: str | None) -> SimConfig:
    """[venue.sim], with the organism's own accounts added: every account whose network is
    `sim` (paper and live on the defaults) is funded with its capital_usdc at the address of its
    key under the data folder (generated on first use; venue/keys.py)."""
    import agents.sections  # noqa: F401
    from settings import load_config
    from venue.keys import sim_accounts

    config = load_config(path)
    sim = config.venue.sim
    listed = {a.address.lower() for a in sim.accounts}
    ours = tuple(a for a in sim_accounts(config.venue, config.data_dir) if a.address not in listed)
    return msgspec.structs.replace(sim, accounts=sim.accounts + ours)


def run(args: argparse.Namespace) -> int:
    from venue.server import SimServer

    config = sim_config(args)
    try:
        server = SimServer(config)
    except (ValueError, OSError, KeyError) as exc:
        print(f"organism sim: error: cannot start the market {config.market!r}: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(server))


async def _serve(server) -> int:
    from aiohttp import web

    from venue.server import build_app

    config = server.config
    runner = web.AppRunner(build_app(server), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"venue: local Hyperliquid-compatible exchange at http://{host}:{port} (ws://{host}:{port}/ws)", flush=True)
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
