"""Strongly-typed genetic programming over the quant core's primitive catalogue.

Pure code (no asyncio, no NATS, no clock, no files): the DEAP bridge (`pset`), the variation
operators (`operators`), the operator bandit (`bandit`), the exact trial counter (`trials`),
fitness and regime segments (`fitness`, `regimes`), the death-report penalty (`death`), seeding
and the parameter-only GA (`seeding`), the island search itself (`search`), and a seeded
planted-edge market for proofs and benchmarks (`planted`).
"""
