"""Reading the Procfile: `name: command` per line, `#` comments. The same file foreman, honcho
and `organism up` read, so the process set is defined once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_-]+):\s*(?P<cmd>\S.*)$")


class ProcfileError(ValueError):
    pass


@dataclass(frozen=True)
class Process:
    name: str
    command: str


def read_procfile(path: Path) -> list[Process]:
    if not path.exists():
        raise ProcfileError(f"Procfile {path} not found: set organism.procfile in the config")
    out: list[Process] = []
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise ProcfileError(f"{path}:{lineno}: expected `name: command`, got {raw!r}")
        if any(p.name == m.group("name") for p in out):
            raise ProcfileError(f"{path}:{lineno}: process {m.group('name')!r} listed twice")
        out.append(Process(m.group("name"), m.group("cmd")))
    return out
