"""Standard agent metrics: Prometheus (prometheus-client) plus plain counters for heartbeats.

The per-message counts (messages in and out, handler latencies) are plain Python counters,
turned into Prometheus families only when /metrics is scraped (`_MessageCollector`): a
prometheus-client Counter or Histogram takes a lock and walks its children on every update,
about a microsecond each, three or four times per message. Rare events (dead letters, errors)
and the start time keep prometheus-client's own metrics. The exposition is the same: metric
names, help, labels and histogram buckets.
"""

from __future__ import annotations

import bisect
import time

from prometheus_client import CollectorRegistry, Counter as PromCounter, Gauge
from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

# Handler latencies of a day-trading system: from tens of microseconds to a few seconds.
_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


class Family:
    """One subject family's counts: messages in and out, and handler latencies (counts per
    bucket, the last +Inf, and their sum). The hot path holds it and bumps its fields in place
    (`bus.connection`); its Prometheus series are made at scrape time. `created` (the series'
    created time) is when the family was first seen, either way."""

    __slots__ = ("name", "n_in", "n_out", "counts", "total", "created")

    def __init__(self, name: str) -> None:
        self.name = name
        self.n_in = 0
        self.n_out = 0
        self.counts = [0] * (len(_BUCKETS) + 1)
        self.total = 0.0
        self.created = time.time()

    def handled(self, seconds: float) -> None:
        # le is inclusive: the first bucket whose bound is >= seconds (as prometheus-client)
        self.counts[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self.total += seconds


class AgentMetrics:
    """One agent's counters. `family` labels are subject families such as `md.candle`."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.registry = CollectorRegistry()
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
        self.families: dict[str, Family] = {}
        self.dead_letters = 0
        self.errors = 0
        self.server = None
        self.registry.register(_MessageCollector(self))

    def family(self, name: str) -> Family:
        """The counts of one subject family (made at first sight)."""
        fam = self.families.get(name)
        if fam is None:
            fam = self.families[name] = Family(name)
        return fam

    @property
    def messages_in(self) -> dict[str, int]:
        """Messages received per family (a copy; families seen only outbound left out)."""
        return {f.name: f.n_in for f in list(self.families.values()) if f.n_in}

    @property
    def messages_out(self) -> dict[str, int]:
        return {f.name: f.n_out for f in list(self.families.values()) if f.n_out}

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


class _MessageCollector:
    """The per-message counters of one AgentMetrics as Prometheus families, read at scrape
    time (from the server's thread: copies first, the event loop keeps counting)."""

    def __init__(self, metrics: AgentMetrics) -> None:
        self.metrics = metrics

    def describe(self):
        return []  # nothing to check at registration: the names are ours alone

    def collect(self):
        m = self.metrics
        families = list(m.families.values())
        for name, doc, attr in (("organism_messages_in", "Messages received", "n_in"),
                                ("organism_messages_out", "Messages published", "n_out")):
            out = CounterMetricFamily(name, doc, labels=["agent", "family"])
            for fam in families:
                value = getattr(fam, attr)
                if value:
                    out.add_metric([m.agent, fam.name], value, created=fam.created)
            yield out
        name = "organism_handler_seconds"
        hist = HistogramMetricFamily(name, "Time spent handling one message",
                                     labels=["agent", "family"])
        for fam in families:
            counts, total = list(fam.counts), fam.total
            if not any(counts):
                continue
            cumulative, buckets = 0, []
            for bound, c in zip(_LE, counts):
                cumulative += c
                buckets.append((bound, cumulative))
            hist.add_metric([m.agent, fam.name], buckets, total)
            hist.samples.append(Sample(f"{name}_created", {"agent": m.agent, "family": fam.name},
                                       fam.created))
        yield hist


_LE = tuple(floatToGoString(b) for b in (*_BUCKETS, float("inf")))
