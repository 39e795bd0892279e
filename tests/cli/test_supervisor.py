"""organism/supervisor.py with real child processes: what starts first stops last."""

from __future__ import annotations

import sys

from organism.supervisor import Child, Supervisor
from tests.bus.helpers import eventually

CHILD = """
import signal, sys, time
name, path = sys.argv[1], sys.argv[2]
def bye(*_):
    with open(path, "a") as f:
        f.write(f"{name} term\\n")
    time.sleep(0.3)  # an agent's drain
    with open(path, "a") as f:
        f.write(f"{name} gone\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
with open(path, "a") as f:
    f.write(f"{name} up\\n")
while True:
    time.sleep(0.05)
"""


async def test_the_children_started_first_stop_after_the_others(tmp_path):
    log = tmp_path / "order.log"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    children = [Child(n, [sys.executable, str(script), n, str(log)], {})
                for n in ("agent_a", "venue", "agent_b")]
    sup = Supervisor(children, stop_timeout_s=20)

    async def venue_up() -> None:
        await eventually(lambda: log.exists() and "venue up" in log.read_text(), timeout=30)

    await sup.start(frozenset({"venue"}), venue_up)
    await eventually(lambda: log.read_text().count(" up") == 3, timeout=30, what="all up")
    await sup.stop()
    lines = log.read_text().split("\n")
    assert lines.index("venue up") < min(lines.index("agent_a up"), lines.index("agent_b up"))
    # the venue hears SIGTERM only once both agents are gone
    assert lines.index("venue term") > max(lines.index("agent_a gone"),
                                           lines.index("agent_b gone"))
    assert all(c.process.returncode == 0 for c in children)
