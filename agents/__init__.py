"""The organism's agents. Each lives in `agents/<name>/` and runs with `python -m agents.<name>`
or `organism agent <name>`.

AGENTS maps the names that exist today to their classes ("module:Class"). KNOWN_AGENTS (from
settings.AGENT_PORT_ORDER) fixes the
order of every agent the architecture names, so each keeps a stable metrics port
(metrics.base_port + its index) as more of them are built.
"""

from __future__ import annotations

import importlib

from settings import AGENT_PORT_ORDER

KNOWN_AGENTS = AGENT_PORT_ORDER

AGENTS: dict[str, str] = {
    "market_data": "agents.market_data.agent:MarketDataAgent",
    "evolution": "agents.evolution.agent:EvolutionAgent",
    "evaluator": "agents.evaluator.agent:EvaluatorAgent",
    "recorder": "agents.recorder.agent:RecorderAgent",
    "validation": "agents.validation.agent:ValidationAgent",
    "risk": "agents.risk.agent:RiskAgent",
    "trader": "agents.trader.agent:TraderAgent",
    # one process per account: `organism agent execution --account paper|live`
    "execution": "agents.execution.agent:ExecutionAgent",
}


class UnknownAgent(LookupError):
    pass


def load_agent_class(name: str):
    try:
        target = AGENTS[name]
    except KeyError:
        raise UnknownAgent(
            f"unknown agent {name!r}; available: {', '.join(sorted(AGENTS))}"
        ) from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)
