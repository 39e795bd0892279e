"""Binance's public archive (data.binance.vision): USD-M futures klines and funding rates, the
closest market to Hyperliquid's perpetuals with years of history.

The archive's layout (binance/binance-public-data; one zip per symbol per month, each with a
`.CHECKSUM` beside it holding `<sha256>  <file name>` as sha256sum writes it):

    data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip
    data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip

A kline zip holds one CSV of the 12 kline columns (open time ... ignore), with a header line
`open_time,open,...` in recent files and none in older ones; open times in ms. A funding zip
holds `calc_time,funding_interval_hours,last_funding_rate`: each payment's time (ms, a few ms
past the hour at times) and the rate paid then (fraction of notional, longs pay when positive;
every 8 hours for most symbols, 4 for some). A month's files appear once it has ended.

Stored as the `binance` source of the candle store (marketdata.store.SOURCES): candles as any
other, funding as asset contexts whose `funding` is the rate paid at `t` (rounded to the
minute), not Hyperliquid's hourly rate; `funding_per_bar` turns payments into what each bar
pays. Parsing and checking here are pure; `fetch_months` downloads (aiohttp), from the archive
or a mirror: an http(s) URL or a local folder with the same layout.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from marketdata.importers import parse_binance, to_floats
from marketdata.parsed import BadRow, ImportFormatError, Parsed, dedupe
from marketdata.store import CTX_SCHEMA, INTERVAL_MS, CandleStore, interval_ms

ARCHIVE_URL = "https://data.binance.vision"
SOURCE = "binance"
ZIP_MAGIC = b"PK\x03\x04"
FUNDING_HEADER = ("calc_time", "funding_interval_hours", "last_funding_rate")
_MINUTE = 60_000
_HOUR = 3_600_000


class ArchiveError(ValueError):
    """An archive file that cannot be used: its checksum does not match, it is not a zip of
    one CSV, or the archive cannot be reached. The message names the file and the fix."""


# --- names and paths ----------------------------------------------------------------------------
def symbol_for(coin: str) -> str:
    """The USD-M symbol of a Hyperliquid coin: BTC -> BTCUSDT; Hyperliquid's thousand-unit coins
    (kPEPE, kSHIB, kBONK ...) are Binance's 1000PEPEUSDT ... Pass --symbol where this guesses
    wrong."""
    if re.fullmatch(r"k[A-Z0-9]+", coin):
        return f"1000{coin[1:]}USDT"
    return f"{coin.upper()}USDT"


def archive_interval(interval: str) -> str:
    """The archive's name of a store interval (1M is `1mo` there)."""
    if interval == "1M":
        return "1mo"
    interval_ms(interval)  # StoreError for an interval the store does not take
    return interval


def kline_file(symbol: str, interval: str, year: int, month: int) -> str:
    """Path of a monthly kline zip, relative to the archive's root."""
    iv = archive_interval(interval)
    return (f"data/futures/um/monthly/klines/{symbol}/{iv}/"
            f"{symbol}-{iv}-{year:04d}-{month:02d}.zip")


def funding_file(symbol: str, year: int, month: int) -> str:
    """Path of a monthly funding-rate zip, relative to the archive's root."""
    return (f"data/futures/um/monthly/fundingRate/{symbol}/"
            f"{symbol}-fundingRate-{year:04d}-{month:02d}.zip")


def month_start_ms(year: int, month: int) -> int:
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def months_between(since_ms: int, until_ms: int, now_ms: int) -> list[tuple[int, int]]:
    """(year, month) of every month from the one holding `since_ms` to the one holding
    `until_ms`, that has ended by `now_ms` (the archive publishes a month once it is over)."""
    t = datetime.fromtimestamp(since_ms / 1000, UTC)
    y, m = t.year, t.month
    out = []
    while month_start_ms(y, m) <= until_ms:
        if month_start_ms(*next_month(y, m)) > now_ms:
            break
        out.append((y, m))
        y, m = next_month(y, m)
    return out


# --- checking -----------------------------------------------------------------------------------
def parse_checksum(text: str, name: str) -> str:
    """The SHA-256 (hex) a `.CHECKSUM` file publishes for `name`."""
    parts = text.split()
    if len(parts) != 2 or not re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
        raise ArchiveError(f"{name}.CHECKSUM does not read `<sha256>  <file name>` "
                           f"(found {text.strip()[:80]!r}); download it again")
    if parts[1].lstrip("*") != name:
        raise ArchiveError(f"{name}.CHECKSUM is for {parts[1]!r}, not {name!r}")
    return parts[0].lower()


def verify(data: bytes, checksum_text: str, name: str) -> str:
    """The file's SHA-256 when it is the one the checksum publishes; ArchiveError if not."""
    want = parse_checksum(checksum_text, name)
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        raise ArchiveError(f"{name}: SHA-256 {got[:16]}... does not match its published "
                           f"checksum {want[:16]}...: refused (a damaged or tampered download); "
                           f"nothing from it is stored, fetch it again")
    return got


def zip_lines(data: bytes, name: str) -> list[str]:
    """Lines of the one CSV inside an archive zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = [i for i in z.infolist() if not i.is_dir()]
            if len(members) != 1 or not members[0].filename.lower().endswith(".csv"):
                raise ArchiveError(f"{name}: an archive zip holds one CSV, this one holds "
                                   f"{', '.join(i.filename for i in members) or 'nothing'}")
            text = z.read(members[0]).decode("utf-8-sig")
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{name}: not a readable zip ({exc}); download it again") from None
    except UnicodeDecodeError:
        raise ArchiveError(f"{name}: its CSV is not UTF-8 text") from None
    return text.splitlines(keepends=True)


def is_funding(lines: Sequence[str]) -> bool:
    first = next((ln for ln in lines if ln.strip()), "")
    return first.strip().lower().startswith("calc_time") or len(first.split(",")) == 3


# --- parsing ------------------------------------------------------------------------------------
def parse_kline_archive(data: bytes, name: str, interval: str | None) -> Parsed:
    """The klines of one archive zip, checked as `organism data import` checks a kline CSV
    (a header line, when there is one, is read as a blank line so line numbers stay true)."""
    lines = zip_lines(data, name)
    if lines and lines[0].strip().lower().startswith("open_time"):
        lines[0] = "\n"
    return parse_binance(lines, name, interval)


def parse_funding_archive(data: bytes, name: str) -> Parsed:
    """The payments of one funding-rate zip as asset contexts: t = the payment time rounded to
    the minute (ms), funding = the rate paid then (the other context columns null)."""
    lines = zip_lines(data, name)
    reader = csv.reader(lines)
    times, rates, line_no, why = [], [], [], []
    for row in reader:
        if not row or not any(c.strip() for c in row):
            continue
        if [c.strip().lower() for c in row] == list(FUNDING_HEADER):
            continue
        line_no.append(reader.line_num)
        if len(row) != 3:
            times.append("")
            rates.append("")
            why.append(f"a funding row has 3 fields ({', '.join(FUNDING_HEADER)}), found "
                       f"{len(row)}")
            continue
        times.append(row[0].strip())
        rates.append(row[2].strip())
        why.append(None)
    t = to_floats(times)
    rate = to_floats(rates)
    why_a = np.asarray(why, dtype=object)
    for i in np.nonzero((why_a == None) & ~np.isfinite(t))[0]:  # noqa: E711
        why_a[i] = f"calc_time {times[i]!r} is not a time in ms"
    for i in np.nonzero((why_a == None) & ~np.isfinite(rate))[0]:  # noqa: E711
        why_a[i] = f"last_funding_rate {rates[i]!r} is not a number"
    ok = why_a == None  # noqa: E711
    tt = np.where(ok, np.round(np.nan_to_num(t) / _MINUTE) * _MINUTE, 0).astype(np.int64)
    lines_a = np.asarray(line_no, dtype=np.int64)
    keep, dups = dedupe(tt, np.nan_to_num(rate), lines_a, ok, why_a, what="payment time")
    order = np.nonzero(keep)[0]
    order = order[np.argsort(tt[order], kind="stable")]
    n = order.size
    nulls = [pa.nulls(n, pa.float64()) for _ in CTX_SCHEMA.names[2:]]
    table = pa.Table.from_arrays([pa.array(tt[order], pa.int64()),
                                  pa.array(rate[order], pa.float64()), *nulls], schema=CTX_SCHEMA)
    bad = tuple(BadRow(name, int(lines_a[i]), str(why_a[i]))
                for i in np.argsort(lines_a, kind="stable") if why_a[i] is not None)
    return Parsed("asset_ctxs", table, len(line_no), dups, bad)


def parse_archive_file(data: bytes, name: str, interval: str | None) -> Parsed:
    """A kline or a funding-rate zip, told apart by its CSV."""
    if is_funding(zip_lines(data, name)):
        return parse_funding_archive(data, name)
    if not interval:
        raise ImportFormatError(f"{name}: --interval is needed for klines; e.g. --interval 1h")
    return parse_kline_archive(data, name, interval)


def funding_per_bar(pay_t: np.ndarray, rate: np.ndarray, time_ms: np.ndarray,
                    bar_ms: int) -> np.ndarray:
    """What each bar pays (fraction of notional) from funding payments at `pay_t` (ms): a bar
    opening at t pays every payment with t < pay_t <= t + bar, as Hyperliquid's hourly marks
    are charged. NaN for bars outside the payments' coverage (before the first payment's
    interval, after the last one's, or inside a hole of more than twice the usual interval):
    no payment there is not known to be none, and the simulator charges its constant rate."""
    out = np.full(time_ms.shape[0], np.nan)
    if pay_t.size == 0:
        return out
    order = np.argsort(pay_t, kind="stable")
    pt, pr = pay_t[order].astype(np.int64), rate[order].astype(np.float64)
    gap = int(np.median(np.diff(pt))) if pt.size > 1 else 8 * _HOUR
    cum = np.r_[0.0, np.cumsum(pr)]
    lo = np.searchsorted(pt, time_ms, side="right")  # payments after the open ...
    hi = np.searchsorted(pt, time_ms + bar_ms, side="right")  # ... up to the close
    paid = cum[hi] - cum[lo]
    covered = (time_ms + bar_ms > pt[0] - gap) & (time_ms < pt[-1] + gap)
    if pt.size > 1:
        holes = np.nonzero(np.diff(pt) > 2 * gap)[0]
        for i in holes:  # the bars strictly between two payments too far apart
            covered &= ~((time_ms >= pt[i]) & (time_ms + bar_ms < pt[i + 1]))
    out[covered] = paid[covered]
    return out


# --- fetching -----------------------------------------------------------------------------------
def is_local(url: str) -> bool:
    """An archive this machine serves itself: a folder, or http on the loopback interface."""
    from urllib.parse import urlparse

    if "://" not in url:
        return True
    p = urlparse(url)
    return p.scheme == "file" or (p.hostname or "") in ("127.0.0.1", "localhost", "::1")


@dataclass
class FetchReport:
    """What one `fetch_months` did, file by file."""

    symbol: str
    interval: str
    months: list[str] = field(default_factory=list)  # YYYY-MM asked for
    skipped: list[str] = field(default_factory=list)  # months the store already held whole
    verified: list[str] = field(default_factory=list)  # files whose checksum matched
    missing: list[str] = field(default_factory=list)  # files the archive does not have
    refused: list[str] = field(default_factory=list)  # "file: why" (nothing stored from them)
    bad_rows: list[str] = field(default_factory=list)
    candles_written: int = 0
    payments_written: int = 0


class _Source:
    """GET relative paths from an http(s) archive or a local folder mirror."""

    def __init__(self, base: str, session=None):
        self.base = base.rstrip("/")
        self.session = session
        self.folder = None if "://" in base else Path(base)
        if base.startswith("file://"):
            self.folder = Path(base[len("file://"):])

    async def get(self, path: str) -> bytes | None:
        """The file's bytes, or None when the archive does not have it."""
        if self.folder is not None:
            f = self.folder / path
            return await asyncio.to_thread(f.read_bytes) if f.is_file() else None
        import aiohttp

        url = f"{self.base}/{path}"
        for attempt in range(3):
            try:
                async with self.session.get(url) as r:
                    if r.status == 404:
                        return None
                    if r.status >= 500 and attempt < 2:
                        await asyncio.sleep(0.5 * 2**attempt)
                        continue
                    if r.status != 200:
                        raise ArchiveError(f"{url}: the archive answered HTTP {r.status}; try "
                                           f"again later")
                    return await r.read()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                if attempt == 2:
                    raise ArchiveError(f"{url}: cannot download ({type(exc).__name__}: {exc}); "
                                       f"check the network or --archive-url") from None
                await asyncio.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")


async def _fetch_checked(src: _Source, path: str, report: FetchReport) -> bytes | None:
    name = path.rsplit("/", 1)[-1]
    data, checksum = await asyncio.gather(src.get(path), src.get(path + ".CHECKSUM"))
    if data is None:
        report.missing.append(name)
        return None
    try:
        if checksum is None:
            raise ArchiveError(f"{name}: the archive publishes no {name}.CHECKSUM, so it "
                               f"cannot be verified: refused")
        verify(data, checksum.decode("utf-8", "replace"), name)
    except ArchiveError as exc:
        report.refused.append(str(exc))
        return None
    report.verified.append(name)
    return data


def _store_month(store: CandleStore, report: FetchReport, symbol: str, coin: str,
                 interval: str, y: int, m: int, klines: bytes | None,
                 funding: bytes | None) -> None:
    """Parse a month's verified files and append them to the binance source."""
    if klines is not None:
        name = kline_file(symbol, interval, y, m).rsplit("/", 1)[-1]
        parsed = parse_kline_archive(klines, name, interval)
        report.bad_rows += [str(b) for b in parsed.bad]
        if parsed.table.num_rows:
            report.candles_written += store.append(coin, interval, parsed.table)
    if funding is not None:
        name = funding_file(symbol, y, m).rsplit("/", 1)[-1]
        parsed = parse_funding_archive(funding, name)
        report.bad_rows += [str(b) for b in parsed.bad]
        if parsed.table.num_rows:
            report.payments_written += store.append_ctx(coin, parsed.table)


def _month_complete(store: CandleStore, coin: str, interval: str, y: int, m: int) -> bool:
    """The binance source already holds every bar of the month and a funding payment in it."""
    step = INTERVAL_MS.get(interval)
    if not step:
        return False
    start, end = month_start_ms(y, m), month_start_ms(*next_month(y, m))
    times = store.open_times(coin, interval)
    want = (end - start) // step
    have = sum(1 for t in range(start, end, step) if t in times)
    if have < want:
        return False
    ctx = store.read_ctx(coin)
    t = ctx.column("t").to_numpy()
    return bool(((t >= start) & (t < end)).any())


async def fetch_months(base: str, symbol: str, coin: str, interval: str,
                       months: Sequence[tuple[int, int]], root: str | Path,
                       concurrency: int = 4,
                       on_month: Callable[[str], None] | None = None) -> FetchReport:
    """Download, verify and store the klines and funding rates of `months` into the binance
    source of the store at `root`. A file whose checksum does not match (or that has none) is
    refused: nothing from it is stored and the report names it. Months the store already
    holds whole are skipped."""
    store = CandleStore(root, SOURCE)
    report = FetchReport(symbol, interval, [f"{y:04d}-{m:02d}" for y, m in months])
    session = None
    if "://" in base and not base.startswith("file://"):
        import aiohttp

        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300))
    src = _Source(base, session)

    async def one(y: int, m: int):
        label = f"{y:04d}-{m:02d}"
        if await asyncio.to_thread(_month_complete, store, coin, interval, y, m):
            report.skipped.append(label)
            return None
        k, f = await asyncio.gather(
            _fetch_checked(src, kline_file(symbol, interval, y, m), report),
            _fetch_checked(src, funding_file(symbol, y, m), report))
        if on_month is not None:
            on_month(label)
        return y, m, k, f

    try:
        # `concurrency` months at a time, stored in month order before the next ones come:
        # memory stays a few months' files whatever the span (1m klines are MBs a month)
        for i in range(0, len(months), concurrency):
            got = await asyncio.gather(*(one(y, m) for y, m in months[i:i + concurrency]))
            for item in got:
                if item is not None:
                    await asyncio.to_thread(_store_month, store, report, symbol, coin,
                                            interval, *item)
    finally:
        if session is not None:
            await session.close()
    for part in (report.skipped, report.verified, report.missing, report.refused):
        part.sort()  # the downloads finish in any order; the report reads in month order
    return report
