"""The keys of the accounts that trade on the local exchange.

On `venue.{paper,live}.network = "sim"` each account signs with a key generated at its first
start and kept in `{data_dir}/keys/{account}.key` (hex, owner-only, never printed): the local
exchange funds its address with `venue.{account}.capital_usdc`, and the execution agent of the
account signs with it. The file is created exclusively, so `organism sim` and the execution agent
starting at the same moment agree on one key. On testnet or mainnet the key comes from the
environment instead (settings.secrets), never from here.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from venue.config import AccountSpec, VenueSection

ACCOUNTS = ("paper", "live")


class KeyFileError(RuntimeError):
    """A key file exists but cannot be used (unreadable, malformed, or readable by others)."""


def key_path(data_dir: Path, account: str) -> Path:
    if account not in ACCOUNTS:
        raise ValueError(f"unknown account {account!r}: use 'paper' or 'live'")
    return Path(data_dir) / "keys" / f"{account}.key"


def local_key(data_dir: Path, account: str) -> str:
    """The account's private key on the local exchange (0x + 64 hex), created on first use."""
    path = key_path(data_dir, account)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w") as f:
        f.write("0x" + secrets.token_hex(32) + "\n")
    return _read(path)


def _read(path: Path) -> str:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileError(
            f"{path} is readable by others (mode {mode:o}): run `chmod 600 {path}` (the key "
            "trades the account)")
    text = path.read_text().strip()
    if not (text.startswith("0x") and len(text) == 66):
        # the text is a key, however broken: never put it in the message
        raise KeyFileError(f"{path} does not hold a 0x-prefixed 32-byte hex key: delete it to "
                           "have a new one generated (the local account starts afresh)")
    try:
        int(text, 16)
    except ValueError:
        raise KeyFileError(f"{path} does not hold a hex key: delete it to have a new one "
                           "generated (the local account starts afresh)") from None
    return text


def local_address(data_dir: Path, account: str) -> str:
    """The 0x address (lowercase) of the account's local key, created on first use."""
    from eth_account import Account

    return Account.from_key(local_key(data_dir, account)).address.lower()


def sim_accounts(venue: VenueSection, data_dir: Path) -> tuple[AccountSpec, ...]:
    """The accounts the local exchange funds at start: every account whose network is `sim`,
    with its configured capital (USDC)."""
    out = []
    for name in ACCOUNTS:
        acct = venue.account(name)
        if acct.network == "sim":
            out.append(AccountSpec(address=local_address(data_dir, name), usdc=acct.capital_usdc))
    return tuple(out)
