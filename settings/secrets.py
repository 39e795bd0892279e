"""Secrets: read only from the environment, printed as ********, never pickled, masked out of
any text (log lines, exception messages) that might carry them."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

import msgspec

SECRET_ENV = {
    "secret_key": "ORGANISM_SECRET_KEY",  # the live account's Hyperliquid API wallet key
    "paper_secret_key": "ORGANISM_PAPER_SECRET_KEY",  # the paper account's key on testnet
    "nats_token": "ORGANISM_NATS_TOKEN",
    "nats_password": "ORGANISM_NATS_PASSWORD",
}
# Config keys that look like secrets are refused in files (they belong in the environment).
SECRET_WORDS = re.compile(r"(secret|private|password|passwd|token|api_key|mnemonic|seed_phrase)")


class Secret:
    """A value that prints as `********` everywhere; `.reveal()` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __reduce__(self):  # never pickled into a child process or a file
        raise TypeError("a Secret cannot be pickled")


class Secrets(msgspec.Struct, frozen=True):
    secret_key: Secret | None = None
    paper_secret_key: Secret | None = None
    nats_token: Secret | None = None
    nats_password: Secret | None = None

    def values(self) -> list[str]:
        """The raw values, for the log masker only."""
        found = (getattr(self, name) for name in SECRET_ENV)
        return [s.reveal() for s in found if s]


def load_secrets(env: Mapping[str, str] | None = None) -> Secrets:
    env = os.environ if env is None else env
    found = {name: Secret(env[var]) for name, var in SECRET_ENV.items() if env.get(var)}
    return Secrets(**found)


def mask(text: str, secrets: Secrets | Iterable[str]) -> str:
    """Replace every secret value inside `text` with ********."""
    values = secrets.values() if isinstance(secrets, Secrets) else secrets
    for value in values:
        if value and len(value) >= 4:
            text = text.replace(value, "********")
    return text
