"""The evolution agent: breeds strategies on each coin's history and hands candidates to
validation (see agent.py)."""
