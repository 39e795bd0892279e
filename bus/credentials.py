"""NATS passwords for the users of bus.permissions, and the broker that enforces them.

`organism up` (and `organism nats`) generate one password per user at the first start and keep
them in `{data_dir}/keys/nats.json` (folder 0700, file 0600, never printed; a user added to the
table later gets its password at the next start, the others keep theirs). The broker reads them
from its environment (`ORGANISM_NATS_<USER>_PASSWORD`, the same variables deploy/nats/hub.conf
names), each agent gets only its own as `ORGANISM_NATS_PASSWORD`, and the CLI logs in as the
operator with the operator's.

Against a broker started elsewhere (`nats.url` set, e.g. nats-server -c deploy/nats/hub.conf) the
passwords come from the same environment variables instead.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bus.broker import EmbeddedBroker
from bus.connection import ConnectOptions
from bus.permissions import ADMIN, OPERATOR, USERS, password_env, render_hub
from settings import Secret

CREDENTIALS_FILE = Path("keys") / "nats.json"
BROKER_CONF = Path("nats") / "organism.conf"
PASSWORD_ENV = "ORGANISM_NATS_PASSWORD"  # a process's own password (settings.secrets reads it)
_ALPHABET = string.ascii_letters + string.digits


class CredentialsError(RuntimeError):
    """The credentials file exists but cannot be used (readable by others, malformed)."""


def credentials_path(data_dir: Path) -> Path:
    return Path(data_dir) / CREDENTIALS_FILE


def new_password() -> str:
    """32 letters and digits, starting with a letter: nats-server reads a $VAR's value as a
    config token, and a leading digit would make it a number."""
    return secrets.choice(string.ascii_letters) + "".join(
        secrets.choice(_ALPHABET) for _ in range(31))


@dataclass(frozen=True)
class Credentials:
    """One password per NATS user, each a Secret (prints as ********)."""

    passwords: Mapping[str, Secret]
    source: str  # where they came from, for error messages ("data/keys/nats.json", "environment")

    def password(self, user: str) -> Secret | None:
        return self.passwords.get(user)

    def broker_env(self) -> dict[str, str]:
        """The environment nats-server resolves hub.conf's $VARS from."""
        return {password_env(user): pw.reveal() for user, pw in self.passwords.items()}

    def agent_env(self, user: str) -> dict[str, str]:
        """What a child process running as `user` gets: its own password, nothing else."""
        pw = self.passwords.get(user)
        return {PASSWORD_ENV: pw.reveal()} if pw else {}

    def values(self) -> list[str]:
        """The raw passwords, for the log masker only."""
        return [pw.reveal() for pw in self.passwords.values()]


def load(data_dir: Path) -> Credentials | None:
    """The data folder's credentials, or None when there are none yet."""
    path = credentials_path(data_dir)
    if not path.exists():
        return None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise CredentialsError(
            f"{path} is readable by others (mode {mode:o}): run `chmod 600 {path}` (it holds "
            "the broker's passwords)")
    try:
        raw = json.loads(path.read_text())
        users = raw["users"]
        if not isinstance(users, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in users.items()):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        # whatever it holds may be passwords: never put its text in the message
        raise CredentialsError(
            f"{path} is not a credentials file ({{\"users\": {{name: password}}}}): delete it to "
            "have new passwords generated at the next `organism up`") from None
    return Credentials({u: Secret(pw) for u, pw in users.items()}, str(path))


def load_or_create(data_dir: Path) -> Credentials:
    """The data folder's credentials, every user of the table included (missing ones are
    generated and the file rewritten, owner-only)."""
    path = credentials_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    found = load(data_dir)
    have = {u: pw.reveal() for u, pw in (found.passwords.items() if found else ())}
    missing = [u for u in USERS if u not in have]
    if found is not None and not missing:
        return found
    have.update({u: new_password() for u in missing})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"users": have}, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    return Credentials({u: Secret(pw) for u, pw in have.items()}, str(path))


def from_env(env: Mapping[str, str] | None = None) -> Credentials | None:
    """The users' passwords from `ORGANISM_NATS_<USER>_PASSWORD` (a hub run from hub.conf), or
    None when none is set."""
    env = os.environ if env is None else env
    found = {u: Secret(env[password_env(u)]) for u in USERS if env.get(password_env(u))}
    return Credentials(found, "environment (ORGANISM_NATS_<USER>_PASSWORD)") if found else None


def for_broker_at(data_dir: Path, env: Mapping[str, str] | None = None) -> Credentials | None:
    """Credentials for a broker `organism up` did not start: the environment's, else the data
    folder's (a broker `organism nats` started), else None (an open broker)."""
    return from_env(env) or load(data_dir)


def user_password(user: str, data_dir: Path,
                  env: Mapping[str, str] | None = None) -> tuple[Secret | None, str]:
    """A process's own password and where it came from: `ORGANISM_NATS_PASSWORD`, else the
    data folder's credentials; (None, "") when neither has one (an open broker)."""
    env = os.environ if env is None else env
    if env.get(PASSWORD_ENV):
        return Secret(env[PASSWORD_ENV]), PASSWORD_ENV
    found = load(data_dir)
    pw = found.password(user) if found else None
    return (pw, found.source) if pw else (None, "")


def for_organism(config) -> Credentials | None:
    """The credentials `organism up` / `organism nats` use: for the embedded broker (nats.url
    empty) the data folder's, created at the first start; for a broker elsewhere those of the
    environment or the data folder, or None (an open broker: everyone connects anonymously)."""
    if not config.nats.url:
        return load_or_create(config.data_dir)
    return for_broker_at(config.data_dir)


def login(url: str, name: str, user: str, credentials: Credentials | None,
          **overrides) -> ConnectOptions:
    """ConnectOptions as `user` with its password (anonymous when there are no credentials)."""
    pw = credentials.password(user) if credentials else None
    return ConnectOptions(url=url, name=name, user=user if pw else None,
                          password=pw.reveal() if pw else None, **overrides)


def child_env(credentials: Credentials | None, user: str,
              inherited: Mapping[str, str] | None = None) -> dict[str, str]:
    """What `organism up` adds to a child's environment: its own password if it is a user
    (nothing else: every other ORGANISM_NATS_*PASSWORD it would inherit is blanked) and no
    provisioning under permissions (admin did it)."""
    if credentials is None:
        return {}
    inherited = os.environ if inherited is None else inherited
    env = {var: "" for var in inherited
           if var.startswith("ORGANISM_NATS_") and var.endswith("PASSWORD")}
    env[PASSWORD_ENV] = ""
    env.update(credentials.agent_env(user))
    env["ORGANISM__JETSTREAM__PROVISION"] = "false"
    return env


def agent_login(config, user: str, env: Mapping[str, str] | None = None):
    """(secrets, config) for `organism agent NAME` run by hand or by foreman/Supervisor: the
    password is ORGANISM_NATS_PASSWORD, else NAME's in the data folder (a broker `organism nats`
    or `organism up` started: it provisioned, so the agent does not, as under `organism up`)."""
    import msgspec

    from settings import load_secrets

    secrets = load_secrets(env)
    if secrets.nats_password:
        return secrets, config
    pw, _ = user_password(user, config.data_dir, env)
    if pw is None:
        return secrets, config
    js = msgspec.structs.replace(config.jetstream, provision=False)
    return msgspec.structs.replace(secrets, nats_password=pw), msgspec.structs.replace(
        config, jetstream=js)


async def provision_as_admin(config, url: str, credentials: Credentials | None) -> None:
    """Create or update every stream and bucket, logged in as admin."""
    from bus.connection import Bus
    from bus.jetstream import provision

    js = config.jetstream
    admin = await Bus.connect(login(url, "provision", ADMIN, credentials, initial_attempts=5))
    try:
        await provision(admin.js, duplicate_window_s=js.duplicate_window_s,
                        max_age_days=js.max_age_days, replicas=js.replicas)
    finally:
        await admin.drain()


def operator_options(config, url: str, name: str, **overrides) -> ConnectOptions:
    """How a CLI command connects: as the operator, with ORGANISM_NATS_PASSWORD or the data
    folder's password (anonymous when there is neither: an open broker, e.g. in tests)."""
    n = config.nats
    password, _ = user_password(OPERATOR, config.data_dir)
    opts = dict(url=url, name=name, connect_timeout_s=n.connect_timeout_s,
                request_timeout_s=n.request_timeout_s, drain_timeout_s=n.drain_timeout_s,
                user=OPERATOR if password else None,
                password=password.reveal() if password else None)
    opts.update(overrides)
    return ConnectOptions(**opts)


def secured_broker(data_dir: Path, credentials: Credentials, *, store_dir: Path,
                   host: str = "127.0.0.1", port: int = 0, log_file: Path | None = None,
                   monitor_port: int = 0) -> EmbeddedBroker:
    """The embedded broker with hub.conf's users and permissions (rendered from the same table),
    its JetStream store in `store_dir`, passwords through its environment. Not started."""
    conf = Path(data_dir) / BROKER_CONF
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(render_hub(store_dir=str(Path(store_dir).resolve()), listen=None,
                               http=None, leaf_listen=None, header=False))
    return EmbeddedBroker(store_dir=store_dir, host=host, port=port, log_file=log_file,
                          config_file=conf, env=credentials.broker_env(),
                          monitor_port=monitor_port)


__all__ = ["ADMIN", "OPERATOR", "Credentials", "CredentialsError", "credentials_path", "load",
           "load_or_create", "from_env", "for_broker_at", "user_password", "operator_options",
           "secured_broker", "PASSWORD_ENV"]
