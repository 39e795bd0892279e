"""The DuckDB warehouse the recorder writes: one row per stored bus message, idempotent.

The key is (stream, seq): a message redelivered after a crash or a drain is written once.
Typed views over the JSON payload make the common questions one SELECT away.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from schemas import WarehouseResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    stream VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    subject VARCHAR NOT NULL,
    type VARCHAR,
    ts_event BIGINT,
    ts_init BIGINT,
    recorded_ns BIGINT NOT NULL,
    correlation_id VARCHAR,
    payload JSON NOT NULL,
    PRIMARY KEY (stream, seq)
);
CREATE OR REPLACE VIEW candles AS
    SELECT payload->>'coin' AS coin, payload->>'interval' AS interval,
           CAST(payload->>'open_time' AS BIGINT) AS open_time,
           CAST(payload->>'open' AS DOUBLE) AS open, CAST(payload->>'high' AS DOUBLE) AS high,
           CAST(payload->>'low' AS DOUBLE) AS low, CAST(payload->>'close' AS DOUBLE) AS close,
           CAST(payload->>'volume' AS DOUBLE) AS volume
    FROM messages WHERE type = 'Candle';
CREATE OR REPLACE VIEW fills AS
    SELECT ts_event, correlation_id, payload->>'coin' AS coin, payload->>'side' AS side,
           CAST(payload->>'price' AS DECIMAL(38, 12)) AS price,
           CAST(payload->>'size' AS DECIMAL(38, 12)) AS size,
           CAST(payload->>'fee' AS DECIMAL(38, 12)) AS fee,
           payload->>'strategy_id' AS strategy_id, payload->>'fill_id' AS fill_id
    FROM messages WHERE type = 'OrderFilled';
CREATE OR REPLACE VIEW risk_decisions AS
    SELECT ts_event, correlation_id, type AS decision, payload->>'strategy_id' AS strategy_id,
           payload->>'reason' AS reason, payload->>'detail' AS detail
    FROM messages WHERE type IN ('OrderApproved', 'OrderDenied');
"""

_ARROW_SCHEMA = pa.schema(
    [
        ("stream", pa.string()),
        ("seq", pa.int64()),
        ("subject", pa.string()),
        ("type", pa.string()),
        ("ts_event", pa.int64()),
        ("ts_init", pa.int64()),
        ("recorded_ns", pa.int64()),
        ("correlation_id", pa.string()),
        ("payload", pa.string()),
    ]
)


@dataclass(frozen=True)
class Row:
    stream: str
    seq: int
    subject: str
    type: str | None
    ts_event: int | None
    ts_init: int | None
    recorded_ns: int
    correlation_id: str | None
    payload: str


READ_ONLY = frozenset({"SELECT", "EXPLAIN", "PRAGMA"})


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class QueryAnswer:
    columns: list[str]
    types: list[str]
    rows: list[list]
    truncated: bool


def _cell(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if isinstance(v, (list, tuple, dict)):
        import json

        return json.dumps(v, default=str)
    return str(v)  # Decimal, dates and times, UUID, intervals: their text


def run_query(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int,
              timeout_s: float = 30.0) -> QueryAnswer:
    """One read-only statement (SELECT, EXPLAIN, PRAGMA) on `con`; anything else is refused
    before it runs."""
    import threading

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"the SQL does not parse: {exc}") from None
    if len(statements) != 1:
        raise QueryError(f"give exactly one statement, got {len(statements)}")
    kind = statements[0].type.name
    if kind not in READ_ONLY:
        raise QueryError(f"only read-only queries (SELECT, EXPLAIN, PRAGMA) run here, not "
                         f"{kind}; the warehouse is written by the recorder alone")
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.start()
    try:
        rel = con.execute(sql)
        columns = [d[0] for d in rel.description or []]
        types = [str(d[1]) for d in rel.description or []]
        fetched = rel.fetchmany(max_rows + 1)
    except duckdb.InterruptException:
        raise QueryError(f"the query ran longer than {timeout_s:g} s and was stopped") from None
    except duckdb.Error as exc:
        raise QueryError(str(exc).splitlines()[0]) from None
    finally:
        timer.cancel()
    rows = [[_cell(v) for v in row] for row in fetched[:max_rows]]
    return QueryAnswer(columns, types, rows, len(fetched) > max_rows)


def answer(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int,
           timeout_s: float = 30.0) -> WarehouseResult:
    """`run_query` as the reply `organism sql` gets: the rows, or the error that says why not,
    and the time it took."""
    started = time.perf_counter()
    now = time.time_ns()
    try:
        ans = run_query(con, sql, max_rows, timeout_s)
    except QueryError as exc:
        return WarehouseResult(ts_event=now, ts_init=now, error=str(exc),
                               elapsed_ms=(time.perf_counter() - started) * 1e3)
    return WarehouseResult(ts_event=now, ts_init=now, columns=ans.columns, types=ans.types,
                           rows=ans.rows, truncated=ans.truncated,
                           elapsed_ms=(time.perf_counter() - started) * 1e3)


class Warehouse:
    """One writer per file: the recorder owns this connection."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.con = duckdb.connect(str(path))
        self._sql(SCHEMA)

    def _sql(self, sql: str) -> list[tuple]:
        # DuckDB refuses new work on a connection while a result is unfinished: always drain.
        return self.con.execute(sql).fetchall()

    def write(self, rows: list[Row]) -> int:
        """Insert rows, ignoring (stream, seq) already present. Returns rows offered."""
        if not rows:
            return 0
        table = pa.Table.from_pylist([r.__dict__ for r in rows], schema=_ARROW_SCHEMA)
        self.con.register("incoming", table)
        try:
            self._sql("BEGIN")
            self._sql("INSERT OR IGNORE INTO messages SELECT * FROM incoming")
            self._sql("COMMIT")
        except Exception:
            self._sql("ROLLBACK")
            raise
        finally:
            self.con.unregister("incoming")
        return len(rows)

    def query(self, sql: str, max_rows: int, timeout_s: float = 30.0) -> WarehouseResult:
        """`answer` on a cursor of its own (safe beside the writer, from another thread)."""
        return answer(self.con.cursor(), sql, max_rows, timeout_s)

    def count(self) -> int:
        return self._sql("SELECT count(*) FROM messages")[0][0]

    def close(self) -> None:
        self.con.close()
