"""The organism's own Hyperliquid-compatible exchange: the offline venue and the SDK's test double.

`venue.engine.Exchange` is the pure core; `venue.server` serves it over HTTP/websocket with aiohttp;
`venue.testing` starts it in-process for tests (`run_sim`, `SimThread`).
"""

from venue.config import AccountSpec, CoinSpec, SimConfig

__all__ = ["AccountSpec", "CoinSpec", "SimConfig"]
