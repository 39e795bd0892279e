"""Standard agent metrics: Prometheus (prometheus-client) plus plain counters for heartbeats."""

from __future__ import annotations

import time
from collections import Counter

from prometheus_client import CollectorRegistry, Counter as PromCounter, Gauge, Histogram
from prometheus_client import start_http_server

# Handler latencies of a day-trading system: from tens of microseconds to a few seconds.
_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


class AgentMetrics:
    """One agent's counters. `family` labels are subject families such as `md.candle`."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.registry = CollectorRegistry()
        labels = ["agent", "family"]
        self._in = PromCounter(
            "organism_messages_in", "Messages received", labels, registry=self.registry
        )
        self._out = PromCounter(
            "organism_messages_out", "Messages published", labels, registry=self.registry
        )
        self._latency = Histogram(
            "organism_handler_seconds",
            "Time spent handling one message",
            labels,
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._dead = PromCounter(
            "organism_dead_letters",
            "Messages that failed to decode or validate",
            ["agent", "family"],
            registry=self.registry,
        )
        self._errors = PromCounter(
            "organism_errors", "Errors by kind", ["agent", "kind"], registry=self.registry
        )
        self._start = Gauge(
            "organism_agent_start_time_seconds", "Unix start time", ["agent"], registry=self.registry
        )
        self._start.labels(agent).set(time.time())
        self.messages_in: Counter[str] = Counter()
        self.messages_out: Counter[str] = Counter()
        self.dead_letters = 0
        self.errors = 0
        self.server = None

        self._children: dict[tuple[str, str], object] = {}

    def _child(self, metric, family: str):
        # labels() costs microseconds; the hot path looks children up once per family.
        key = (metric._name, family)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(self.agent, family)
        return child

    def received(self, family: str) -> None:
        self.messages_in[family] += 1
        self._child(self._in, family).inc()

    def published(self, family: str) -> None:
        self.messages_out[family] += 1
        self._child(self._out, family).inc()

    def handled(self, family: str, seconds: float) -> None:
        self._child(self._latency, family).observe(seconds)

    def dead_letter(self, family: str) -> None:
        self.dead_letters += 1
        self._dead.labels(self.agent, family).inc()

    def error(self, kind: str) -> None:
        self.errors += 1
        self._errors.labels(self.agent, kind).inc()

    def gauge(self, name: str, documentation: str) -> Gauge:
        """An agent-specific gauge in this agent's registry (labelled by agent)."""
        return Gauge(name, documentation, ["agent"], registry=self.registry)

    def serve(self, host: str, port: int) -> int:
        """Start the /metrics HTTP endpoint; returns the bound port (port 0 picks a free one)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self.server = server
        return server.server_port

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
