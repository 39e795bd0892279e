"""How the command line shows things to a trader. Every command uses these helpers, so a time,
an amount or a return looks the same in every table; new commands should too.

Tables (what people read):
- `utc(t)`: a UTC date, `2026-11-29 04:50Z` (seconds added only when they are not zero;
  `utc(t, seconds=True)` always). `t` is ns, ms or s since the epoch: `utc_ns`, `utc_ms`,
  `utc_s` say which; `utc()` guesses from the magnitude (ns > 1e17 > ms > 1e11 > s).
- `parse_utc(text)`: the inverse for options (`--start 2026-01-01`, `--since 2026-11-29T04:50Z`,
  `--since 3h` = three hours ago); returns ms since the epoch; ValueError says the forms.
- `usd(x)`: `$12,345.67`, `-$1,234.50`; `usd(x, sign=True)`: `+$1,234.50`.
- `pct(fraction)`: a fraction as a signed percent, `+12.3%` (`pct(x, sign=False)`: `12.3%`).
- `num(x)`: a plain number with separators (`1,234`, `0.52`, `n/a` for NaN or None).
- `duration(seconds)`: `45s`, `3m05s`, `2h07m`, `3d04h`.
- `table(title)`: a Rich table whose columns never cut a word in two: `key_column` for names and
  figures (never wrapped), `text_column` for prose (wrapped at spaces). `console()` is a Console
  that, off a terminal, renders at 80 columns, so pasted output and tests look like a terminal.

Errors (what people act on):
- `fail(command, message, code=2)`: prints `organism COMMAND: message` on stderr, returns `code`
  (2 for a usage or input problem, 1 when something outside failed: a broker, a file system).
- `broker_down(command, url)`: the one line for a command that needs the broker and finds none:
  it names the URL and suggests `organism up`.
- `reachable(url)`: a quick TCP probe (no retries, no log lines) before a client connects.
- `quiet_logs()`: silences the bus's retry warnings in a short-lived client command.
- `check_output_file(path, option)` / `check_output_dir(path, option)`: an output path checked
  before any long work starts (its folder exists and is writable, it is not a directory, ...);
  returns the problem as text, or None.

`--json` is for scripts and keeps one unit per field, stated in each command's help: times as
integers since the epoch (`*_ms` in ms; the wire's `ts_event`/`ts_init` in ns), returns and other
ratios as fractions (0.123 = 12.3 %), money as USD numbers, durations in seconds (`*_s`).
"""

from __future__ import annotations

import math
import os
import re
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

NA = "n/a"


# --- times ---------------------------------------------------------------------------------------
def utc_ms(ms: int | float | None, seconds: bool = False) -> str:
    """`2026-11-29 04:50Z` for a time in ms since the epoch."""
    if ms is None or (isinstance(ms, float) and not math.isfinite(ms)):
        return NA
    d = datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc)
    if seconds or d.second or d.microsecond:
        return d.strftime("%Y-%m-%d %H:%M:%SZ")
    return d.strftime("%Y-%m-%d %H:%MZ")


def utc_ns(ns: int | None, seconds: bool = False) -> str:
    return NA if ns is None else utc_ms(int(ns) // 1_000_000, seconds)


def utc_s(s: float | None, seconds: bool = False) -> str:
    return NA if s is None else utc_ms(int(s * 1000), seconds)


def utc(t: int | float | None, seconds: bool = False) -> str:
    """A UTC date from ns, ms or s since the epoch, told apart by size."""
    if t is None:
        return NA
    t = int(t)
    if abs(t) > 10**17:
        return utc_ns(t, seconds)
    if abs(t) > 10**11:
        return utc_ms(t, seconds)
    return utc_s(t, seconds)


_AGO = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
TIME_FORMS = "2026-11-29, '2026-11-29 04:50', 2026-11-29T04:50Z, or an age such as 90m, 3h, 2d"


def parse_utc(text: str, now_ms: int | None = None) -> int:
    """ms since the epoch from a UTC date (`2026-11-29`, `2026-11-29 04:50[:SS]`, with `T`
    and/or `Z`) or an age before now (`90m`, `3h`, `2d`, `1w`)."""
    s = text.strip()
    m = _AGO.match(s)
    if m:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return now - int(float(m.group("n")) * _UNIT_S[m.group("unit")] * 1000)
    s = s.removesuffix("Z").removesuffix("z").replace("T", " ")
    for form in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            d = datetime.strptime(s, form).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        return int(d.timestamp() * 1000)
    raise ValueError(f"{text!r} is not a UTC time; use {TIME_FORMS}")


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return NA
    s = int(round(seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 3 * 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


# --- money and numbers ---------------------------------------------------------------------------
def _bad(x) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def usd(x: float | None, sign: bool = False, cents: bool = True) -> str:
    """`$12,345.67`; negative `-$12.50`; `sign=True` puts `+` on gains too."""
    if _bad(x):
        return NA
    x = float(x)
    body = f"${abs(x):,.2f}" if cents else f"${abs(x):,.0f}"
    if x < 0 and body.strip("$0.,"):
        return "-" + body
    return ("+" + body) if sign and x > 0 else body


def pct(fraction: float | None, digits: int = 1, sign: bool = True) -> str:
    """A fraction as a percent: 0.1234 -> `+12.3%` (`sign=False`: `12.3%`)."""
    if _bad(fraction):
        return NA
    return f"{float(fraction) * 100:{'+' if sign else ''}.{digits}f}%"


def num(x: float | int | None, digits: int = 2) -> str:
    """A plain figure: ints with separators, floats to `digits` decimals (`n/a` if undefined)."""
    if _bad(x):
        return NA
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1000):
        return f"{int(x):,}"
    return f"{float(x):,.{digits}f}"


# --- tables --------------------------------------------------------------------------------------
def console(stderr: bool = False, **kw):
    """A Rich Console; off a terminal it renders at 80 columns and without colour codes."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if not stream.isatty() and "width" not in kw and "COLUMNS" not in os.environ:
        kw["width"] = 80
    return Console(stderr=stderr, highlight=False, **kw)


def table(title: str | None = None, **kw):
    from rich import box
    from rich.table import Table

    kw.setdefault("box", box.SIMPLE_HEAD)
    kw.setdefault("show_edge", False)
    kw.setdefault("pad_edge", False)
    kw.setdefault("title_justify", "left")
    kw.setdefault("collapse_padding", True)  # two spaces between columns: more fits in 80
    return Table(title=title, **kw)


def key_column(t, name: str, right: bool = False, **kw) -> None:
    """A column of names or figures: never wrapped; shortened with `…` only if it must be."""
    t.add_column(name, justify="right" if right else "left", no_wrap=True, overflow="ellipsis",
                 **kw)


def text_column(t, name: str, **kw) -> None:
    """A column of prose: wrapped at spaces, takes what width is left."""
    t.add_column(name, overflow="fold", ratio=1, **kw)


# --- errors --------------------------------------------------------------------------------------
def fail(command: str, message: str, code: int = 2) -> int:
    print(f"organism {command}: {message}", file=sys.stderr)
    return code


def broker_down(command: str, url: str) -> int:
    """The one line for a command that needs the broker and finds none; exit code 1."""
    return fail(command, f"no NATS broker answers at {url}: is the organism running? Start it "
                         f"with `organism up` (or point nats.url at a running broker)", 1)


def reachable(url: str, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at the URL's host and port (the first URL of
    a comma-separated list; nats:// defaults to 4222, http:// to 80)."""
    first = url.split(",")[0].strip()
    p = urlparse(first if "://" in first else f"nats://{first}")
    default = {"nats": 4222, "tls": 4222, "http": 80, "https": 443, "ws": 80, "wss": 443}
    host, port = p.hostname or "127.0.0.1", p.port or default.get(p.scheme, 4222)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def quiet_logs() -> None:
    """Only errors from loguru: a client command's own messages are its printed lines."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="ERROR", format="{message}")


def check_output_file(path: str | os.PathLike, option: str) -> str | None:
    """Problem with writing a file at `path` (checked before long work starts), or None."""
    p = Path(path)
    if p.is_dir():
        return f"{option} {str(p)!r} is a directory; give a file name"
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        return (f"{option} {str(p)!r}: the folder {str(parent)!r} does not exist; create it "
                f"first or choose another path")
    if p.exists() and not os.access(p, os.W_OK):
        return f"{option} {str(p)!r} exists and is not writable; choose another path"
    if not p.exists() and not os.access(parent, os.W_OK):
        return f"{option} {str(p)!r}: cannot write in {str(parent)!r}; choose another folder"
    return None


def check_output_dir(path: str | os.PathLike, option: str) -> str | None:
    """Problem with writing into the folder `path` (created later if missing), or None."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        return f"{option} {str(p)!r} is a file, not a folder; choose a folder name"
    probe = p
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"{option} {str(p)!r}: {str(probe)!r} is a file, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{option} {str(p)!r}: cannot write in {str(probe)!r}; choose another folder"
    return None
