"""The trader: runs every paper and live strategy on closed candles (agents/trader/agent.py)."""
