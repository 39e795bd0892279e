"""The risk agent: a real veto between every order intent and execution.

Pure core: `checks.decide` (pre-trade checks), `breakers` (trading state and breakers),
`flatten`, `events` (what execution and market data say), `engine` (one input at a time);
`agent.py` is the thin NATS adapter.
"""
