"""Market data that outlives the exchange's memory: the candle store, importers, the live
Hyperliquid feed client, backfill and replay. Not pure (files, sockets); the pure pieces
(candle closing, synthetic markets) take time and data as arguments."""
