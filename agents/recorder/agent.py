"""The recorder: every JetStream stream into the DuckDB warehouse.

One durable consumer per stream (`recorder`), batch handler, ack after the DuckDB commit: a crash
or SIGTERM loses nothing and a redelivery is written once. DuckDB lets one process hold the file
for writing and nobody else read it meanwhile, so the recorder also answers read-only SQL on
`sys.warehouse.query` (`organism sql`).
"""

from __future__ import annotations

import asyncio
import time

import msgspec
from loguru import logger

from agents.recorder.warehouse import Row, Warehouse
from bus import subjects
from bus.connection import Delivery
from bus.jetstream import STREAMS
from bus.runtime import Agent, AgentContext
from schemas import WarehouseQuery, WarehouseResult


class RecorderAgent(Agent):
    name = "recorder"

    def __init__(self) -> None:
        self.warehouse: Warehouse | None = None
        self.ctx: AgentContext | None = None

    async def start(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        path = ctx.data_dir / ctx.config.recorder.database
        self.warehouse = Warehouse(path)
        logger.info("recording into {} ({} rows so far)", path, self.warehouse.count())
        batch = ctx.config.recorder.batch_size
        await ctx.bus.subscribe(subjects.sys_warehouse_query(), self._query,
                                message_type=WarehouseQuery)
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

    async def _query(self, d: Delivery) -> WarehouseResult:
        """`organism sql`: a read-only query on a cursor of its own, off the event loop, so
        recording goes on meanwhile. Too many rows for one NATS message are cut, and said so."""
        q: WarehouseQuery = d.message
        assert self.warehouse is not None and self.ctx is not None
        res = await asyncio.to_thread(self.warehouse.query, q.sql, q.max_rows,
                                      self.ctx.config.recorder.query_timeout_s)
        rows = res.rows
        limit = max(1024, self.ctx.bus.nc.max_payload - 4096)
        while rows and len(msgspec.json.encode(rows)) > limit:
            rows = rows[: len(rows) // 2]
        if len(rows) < len(res.rows):
            res = msgspec.structs.replace(res, rows=rows, truncated=True)
        return res

    async def stop(self) -> None:
        if self.warehouse is not None:
            self.warehouse.close()
            self.warehouse = None
