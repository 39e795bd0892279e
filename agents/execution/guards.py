"""What may stop execution from sending: the VPN check and the venue's action budget."""

from __future__ import annotations

import asyncio
import shlex

from loguru import logger


class VpnGuard:
    """Runs `execution.vpn_check` (e.g. `nordvpn status`): exit status 0 means the VPN is up.
    No command configured: always up. A check that hangs counts as failed after `timeout_s`."""

    def __init__(self, command: str, timeout_s: float = 10.0) -> None:
        self.command = command
        self.timeout_s = timeout_s
        self.ok = True
        self.detail = ""

    async def check(self) -> bool:
        if not self.command:
            return True
        try:
            proc = await asyncio.create_subprocess_exec(
                *shlex.split(self.command), stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
        except OSError as exc:
            return self._set(False, f"`{self.command}` cannot run: {exc}")
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return self._set(False, f"`{self.command}` did not answer in {self.timeout_s:.0f} s")
        text = out.decode("utf-8", "replace").strip().splitlines()
        last = text[-1][:200] if text else ""
        if proc.returncode != 0:
            return self._set(False, f"`{self.command}` exited {proc.returncode}: {last}")
        return self._set(True, last)

    def _set(self, ok: bool, detail: str) -> bool:
        if ok != self.ok:
            (logger.info if ok else logger.error)("VPN check {}: {}", "passes" if ok else
                                                  "FAILS, nothing is sent", detail)
        self.ok, self.detail = ok, detail
        return ok


class ActionBudget:
    """The venue's per-address action budget (userRateLimit: cap − used), counted down between
    reads. -1 = not known yet."""

    def __init__(self) -> None:
        self.left = -1

    def update(self, left: int) -> None:
        self.left = max(0, left)

    def spend(self, n: int) -> None:
        if self.left >= 0:
            self.left = max(0, self.left - n)
