"""The recorder: every JetStream stream into the DuckDB warehouse.

One durable consumer per stream (`recorder`), batch handler, ack after the DuckDB commit: a crash
or SIGTERM loses nothing and a redelivery is written once.
"""

from __future__ import annotations

import time

import msgspec
from loguru import logger

from agents.recorder.warehouse import Row, Warehouse
from bus.connection import Delivery
from bus.jetstream import STREAMS
from bus.runtime import Agent, AgentContext


class RecorderAgent(Agent):
    name = "recorder"

    def __init__(self) -> None:
        self.warehouse: Warehouse | None = None

    async def start(self, ctx: AgentContext) -> None:
        path = ctx.data_dir / ctx.config.recorder.database
        self.warehouse = Warehouse(path)
        logger.info("recording into {} ({} rows so far)", path, self.warehouse.count())
        batch = ctx.config.recorder.batch_size
        for spec in STREAMS:
            await ctx.bus.consume(
                spec.name,
                durable="recorder",
                batch_handler=self._writer(spec.name),
                batch=batch,
                ack_wait_s=ctx.config.jetstream.ack_wait_s,
            )

    def _writer(self, stream: str):
        async def write(deliveries: list[Delivery]) -> None:
            now = time.time_ns()
            rows = [
                Row(
                    stream=stream,
                    seq=d.stream_seq,
                    subject=d.subject,
                    type=type(d.message).__name__,
                    ts_event=d.message.ts_event,
                    ts_init=d.message.ts_init,
                    recorded_ns=now,
                    correlation_id=getattr(d.message, "correlation_id", None),
                    payload=msgspec.json.encode(d.message).decode(),
                )
                for d in deliveries
            ]
            assert self.warehouse is not None
            self.warehouse.write(rows)

        return write

    async def stop(self) -> None:
        if self.warehouse is not None:
            self.warehouse.close()
            self.warehouse = None
