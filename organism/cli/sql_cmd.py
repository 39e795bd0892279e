"""`organism sql QUERY`: read-only SQL on the recorder's DuckDB warehouse.

While the organism runs, the recorder holds the warehouse file (DuckDB allows one writing
process and no readers beside it), so the query goes to the recorder over NATS
(`sys.warehouse.query`). When no recorder answers (the organism is stopped), the file is opened
read-only here instead. Views: messages, candles, fills, risk_decisions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sql", help="read-only SQL on the recorder's warehouse (messages, candles, fills, ...)",
        description=__doc__)
    p.add_argument("query", help="one SELECT (or EXPLAIN / PRAGMA) statement")
    p.add_argument("--max-rows", type=int, default=1000, help="rows to return (1..100000)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per row, values as stored (times in ns or ms)")
    p.add_argument("--timeout", type=float, default=35.0,
                   help="seconds to wait for the recorder's answer")
    p.add_argument("--url", help="NATS URL (default: from the config)")
    p.set_defaults(func=run)


def _fail(msg: str, code: int = 1) -> int:
    print(f"organism sql: {msg}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from organism.cli.common import config_from, nats_url

    if not 1 <= args.max_rows <= 100_000:
        return _fail(f"--max-rows must be 1..100000, got {args.max_rows}", 2)
    from nats.errors import NoRespondersError
    from nats.errors import TimeoutError as NatsTimeout

    from organism.cli import fmt

    config = config_from(args)
    url = nats_url(config, args.url)
    fmt.quiet_logs()
    try:
        result = asyncio.run(_ask(url, args.query, args.max_rows, args.timeout, config)) \
            if fmt.reachable(url, config.nats.connect_timeout_s) else None
    except ConnectionError as exc:
        if "refused" in str(exc):  # a broker that will not let us in: say so, read no file
            return _fail(str(exc))
        result = None
    except (NoRespondersError, OSError):
        result = None  # no broker, or no recorder on it: read the file ourselves
    except (NatsTimeout, asyncio.TimeoutError):
        return _fail(f"the recorder did not answer within {args.timeout:g} s; a long query? "
                     f"(--timeout, recorder.query_timeout_s)")
    if result is None:
        result = _from_file(config, args.query, args.max_rows)
        if isinstance(result, str):
            return _fail(result)
    if result.error:
        return _fail(result.error)
    _print(result, args.json)
    return 0


async def _ask(url: str, sql: str, max_rows: int, timeout: float, config):
    from bus import subjects
    from bus.connection import Bus
    from bus.credentials import operator_options
    from schemas import WarehouseQuery, WarehouseResult

    bus = await Bus.connect(operator_options(config, url, "organism-sql", initial_attempts=1))
    try:
        now = time.time_ns()
        return await bus.request(subjects.sys_warehouse_query(),
                                 WarehouseQuery(ts_event=now, ts_init=now, sql=sql,
                                                max_rows=max_rows),
                                 reply_type=WarehouseResult, timeout=timeout)
    finally:
        await bus.drain()


def _from_file(config, sql: str, max_rows: int):
    """The warehouse read directly (read-only); a string says why it could not be."""
    import duckdb

    from agents.recorder.warehouse import answer

    path = config.data_dir / config.recorder.database
    if not path.is_file():
        return (f"no recorder answers (no organism running?) and there is no warehouse at "
                f"{path} yet; start the organism with `organism up`, or point --config at "
                f"its data_dir")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        return (f"no recorder answered on NATS and {path} cannot be opened read-only ({exc}); "
                f"is a recorder running against another broker? (`organism status`)")
    try:
        return answer(con, sql, max_rows, config.recorder.query_timeout_s)
    finally:
        con.close()


def _print(result, as_json: bool) -> None:
    if as_json:
        for row in result.rows:
            print(json.dumps(dict(zip(result.columns, row)), default=str))
    else:
        from organism.cli import fmt
        from organism.cli.watch_cmds import _human

        out = fmt.console()
        table = fmt.table()
        for col in result.columns:
            numeric = any(isinstance(r[result.columns.index(col)], (int, float))
                          for r in result.rows[:50])
            fmt.key_column(table, col, right=numeric)
        for row in result.rows:
            table.add_row(*(_cell(c, v, _human) for c, v in zip(result.columns, row)))
        out.print(table)
    note = f"{len(result.rows)} row(s) in {result.elapsed_ms:.1f} ms"
    if result.truncated:
        note += "; more rows exist (raise --max-rows or narrow the query)"
    print(note, file=sys.stderr)


def _cell(column: str, value, human) -> str:
    """A warehouse value as people read it: times (ns or ms since the epoch, by column name)
    as UTC dates; --json keeps the stored numbers."""
    if value is None:
        return "NULL"
    shown = human(column, value)
    if shown is not value:
        return str(shown)
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e15 else str(value)
    return str(value)
