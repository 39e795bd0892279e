"""The strategy registry: the one module that reads and writes the JetStream KV bucket `registry`
(one key per strategy id, a typed `RegistryEntry`), shared by validation, the trader, risk, the
operator's CLI and, later, lifecycle, allocation and the dashboard.

Who may change what (issue 13; the broker's permissions follow this table):

    | change                           | writers                                           |
    |----------------------------------|---------------------------------------------------|
    | new entry, stage `validated`     | validation (a passing report), operator (`add`)   |
    | validated -> paper               | lifecycle; validation runs the minimal rule below |
    |                                  | until lifecycle lands; operator (`add`, `promote`)|
    | paper -> live, live -> paper     | lifecycle, operator                               |
    | validated -> live                | operator only (by hand, with confirmation)        |
    | any -> retired (terminal)        | lifecycle, operator                               |
    | flags paused, deactivated        | lifecycle, operator (risk only asks, by an event) |
    | flag decaying                    | lifecycle                                         |
    | validation summary               | validation, lifecycle                             |
    | limits                           | lifecycle, operator                               |

Everything else in an entry (its id, DSL, market, origin) never changes once written.

Every write is a compare-and-set on the key's KV revision, retried on a conflict against the
fresh value, so two writers never lose each other's change. Every stage change is appended to the
entry's history and published as a `LifecycleEvent` on `life.event.{id}` with its reason, after
the KV write (a crash between the two leaves the history in KV without the event; the history is
the record).

The rules are pure functions at the top; `Registry` is the thin I/O around them.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Annotated, Literal, get_args

import msgspec
from loguru import logger
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from bus import subjects
from bus.codec import DecodeFailure, decode, encode
from bus.state import kv_entries
from schemas import LifecycleEvent
from schemas.lifecycle import DeathReport, Stage
from schemas.registry import Flag, RegistryEntry, StageChange, Writer
from settings import Section, register_section

BUCKET = "registry"
REGISTRY_STAGES: tuple[Stage, ...] = ("validated", "paper", "live", "retired")
FlagName = Literal["paused", "decaying", "deactivated"]
FLAG_NAMES: tuple[str, ...] = get_args(FlagName)
WRITERS: tuple[str, ...] = get_args(Writer)


class RegistryError(ValueError):
    """A registry change that cannot be made, phrased for the person who asked for it."""


class IllegalChange(RegistryError):
    """The writer may not make this change (the table above), or the stage move does not exist."""


class StrategyNotFound(RegistryError, LookupError):
    pass


class StrategyExists(RegistryError):
    pass


class RegistryConflict(RegistryError):
    """Compare-and-set kept losing to other writers for longer than the retry budget."""


class RegistrySection(Section):
    """`[registry]`: the minimal validated -> paper rule that validation runs until the lifecycle
    agent lands."""

    # Evolved strategies in `paper` at once; more wait in `validated`, best score first.
    paper_slots: Annotated[int, msgspec.Meta(ge=0)] = 10
    # Run the minimal rule at all (false: strategies stay `validated` until moved by hand).
    promote_to_paper: bool = True


register_section("registry", RegistrySection)


# --- pure rules ------------------------------------------------------------------------------
MOVES: dict[tuple[str, str], frozenset[str]] = {
    ("validated", "paper"): frozenset({"lifecycle", "validation", "operator"}),
    ("validated", "live"): frozenset({"operator"}),
    ("paper", "live"): frozenset({"lifecycle", "operator"}),
    ("live", "paper"): frozenset({"lifecycle", "operator"}),
    ("validated", "retired"): frozenset({"lifecycle", "operator"}),
    ("paper", "retired"): frozenset({"lifecycle", "operator"}),
    ("live", "retired"): frozenset({"lifecycle", "operator"}),
}
CREATORS = frozenset({"validation", "operator"})
FLAG_WRITERS: dict[str, frozenset[str]] = {
    "paused": frozenset({"lifecycle", "operator"}),
    "deactivated": frozenset({"lifecycle", "operator"}),
    "decaying": frozenset({"lifecycle"}),
}
FIELD_WRITERS: dict[str, frozenset[str]] = {
    "validation": frozenset({"validation", "lifecycle"}),
    "limits": frozenset({"lifecycle", "operator"}),
}
# Written only by move / set_flag / clear_flag, or never after create.
_BY_MOVE = ("stage", "account", "stage_since", "history", "death")
_IMMUTABLE = ("strategy_id", "dsl", "coin", "interval", "origin")


def account_for(stage: Stage, previous: str = "paper") -> Literal["paper", "live"]:
    """The account a stage trades: live for `live`, paper otherwise (a retired strategy keeps
    the account it last traded, so its fills and figures stay where they were)."""
    if stage == "live":
        return "live"
    if stage == "retired":
        return "live" if previous == "live" else "paper"
    return "paper"


def check_writer(writer: str) -> None:
    if writer not in WRITERS:
        raise IllegalChange(f"unknown registry writer {writer!r}; one of {', '.join(WRITERS)}")


def check_key(strategy_id: str) -> str:
    """KV keys allow letters, digits and `-_=/.`; strategy ids must fit."""
    if not strategy_id or not all(c.isascii() and (c.isalnum() or c in "-_=/.") for c in strategy_id) \
            or strategy_id.startswith(".") or strategy_id.endswith("."):
        raise RegistryError(
            f"strategy id {strategy_id!r} cannot be a registry key: use letters, digits and "
            "- _ = / . only (not at the ends)"
        )
    return strategy_id


def check_create(entry: RegistryEntry, writer: str) -> None:
    check_writer(writer)
    check_key(entry.strategy_id)
    if writer not in CREATORS:
        raise IllegalChange(
            f"{writer} may not enter strategies into the registry; only "
            f"{' and '.join(sorted(CREATORS))} do"
        )
    if entry.stage != "validated":
        raise IllegalChange(
            f"a new registry entry starts as `validated`, not {entry.stage!r}; create it, then "
            "move it (every stage change gets its own history line and event)"
        )
    if entry.account != "paper":
        raise IllegalChange("a new registry entry trades the paper account")


def check_move(entry: RegistryEntry, to_stage: str, writer: str) -> None:
    check_writer(writer)
    if to_stage not in REGISTRY_STAGES:
        raise IllegalChange(
            f"{to_stage!r} is not a registry stage; one of {', '.join(REGISTRY_STAGES)}"
        )
    if entry.stage == "retired":
        raise IllegalChange(f"{entry.strategy_id} is retired; a retired strategy never trades again")
    allowed = MOVES.get((entry.stage, to_stage))
    if allowed is None:
        legal = sorted(t for (f, t) in MOVES if f == entry.stage)
        raise IllegalChange(
            f"{entry.strategy_id} cannot move {entry.stage} -> {to_stage}; from {entry.stage} it "
            f"may go to {', '.join(legal)}"
        )
    if writer not in allowed:
        raise IllegalChange(
            f"{writer} may not move a strategy {entry.stage} -> {to_stage}; "
            f"{' and '.join(sorted(allowed))} may"
        )


def apply_move(
    entry: RegistryEntry,
    to_stage: Stage,
    reason: str,
    writer: str,
    now: int,
    *,
    death: DeathReport | None = None,
) -> RegistryEntry:
    """The entry after a legal stage move (check_move first). `now`: ns."""
    change = StageChange(stage=to_stage, at=now, reason=reason, by=writer)
    return msgspec.structs.replace(
        entry,
        stage=to_stage,
        account=account_for(to_stage, entry.account),
        stage_since=now,
        history=[*entry.history, change],
        death=death if death is not None else entry.death,
        ts_event=now,
        ts_init=now,
    )


def check_flag(flag: str, writer: str) -> None:
    check_writer(writer)
    if flag not in FLAG_WRITERS:
        raise IllegalChange(f"unknown flag {flag!r}; one of {', '.join(FLAG_NAMES)}")
    if writer not in FLAG_WRITERS[flag]:
        raise IllegalChange(
            f"{writer} may not change the flag {flag!r}; "
            f"{' and '.join(sorted(FLAG_WRITERS[flag]))} may"
        )


def apply_flag(entry: RegistryEntry, flag: str, value: Flag | None, now: int) -> RegistryEntry:
    flags = msgspec.structs.replace(entry.flags, **{flag: value})
    return msgspec.structs.replace(entry, flags=flags, ts_event=now, ts_init=now)


def check_update(old: RegistryEntry, new: RegistryEntry, writer: str) -> None:
    """What `update` may change: the fields in FIELD_WRITERS, by their writers; stages and flags
    only through move and set_flag/clear_flag; identity never."""
    check_writer(writer)
    for name in _IMMUTABLE:
        if getattr(old, name) != getattr(new, name):
            raise IllegalChange(f"{old.strategy_id}: `{name}` never changes once entered")
    for name in _BY_MOVE:
        if getattr(old, name) != getattr(new, name):
            raise IllegalChange(f"{old.strategy_id}: `{name}` changes only through move()")
    if old.flags != new.flags:
        raise IllegalChange(f"{old.strategy_id}: flags change only through set_flag/clear_flag")
    for name, writers in FIELD_WRITERS.items():
        if getattr(old, name) != getattr(new, name) and writer not in writers:
            raise IllegalChange(
                f"{writer} may not change `{name}` of {old.strategy_id}; "
                f"{' and '.join(sorted(writers))} may"
            )


def is_trading(entry: RegistryEntry) -> bool:
    """In `paper` or `live` and neither paused nor deactivated: the trader runs it."""
    return (entry.stage in ("paper", "live") and entry.flags.paused is None
            and entry.flags.deactivated is None)


def paper_admissions(
    entries: Iterable[RegistryEntry],
    paper_slots: int,
    blocked_coins: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """The minimal validated -> paper rule (validation runs it until the lifecycle agent lands):
    evolved strategies waiting in `validated`, best readiness score first (then the oldest),
    fill the paper slots that evolved strategies in `paper` leave free. Users' strategies go where
    the operator puts them and take no slot; blocked coins never go. Returns (id, reason)."""
    entries = list(entries)
    blocked = set(blocked_coins)
    in_paper = sum(1 for e in entries if e.stage == "paper" and e.origin.kind == "evolved")
    free = max(0, paper_slots - in_paper)
    waiting = sorted(
        (e for e in entries if e.stage == "validated" and e.origin.kind == "evolved"
         and e.coin not in blocked and e.flags.deactivated is None),
        key=lambda e: (-(e.validation.score if e.validation else 0.0), e.stage_since,
                       e.strategy_id),
    )
    out = []
    for i, e in enumerate(waiting[:free]):
        score = e.validation.score if e.validation else 0.0
        out.append((e.strategy_id,
                    f"minimal rule: passed validation (score {score:.1f}); paper slot "
                    f"{in_paper + i + 1} of {paper_slots}"))
    return out


# --- I/O -------------------------------------------------------------------------------------
class Registry:
    """Reads and writes the registry as one writer (`validation`, `lifecycle`, `operator`; the
    trader and risk only read). Open with `await Registry.open(bus, writer)`."""

    def __init__(self, bus, kv, writer: str, *, retry_s: float = 10.0) -> None:
        check_writer(writer)
        self.bus = bus
        self.kv = kv
        self.writer = writer
        self.retry_s = retry_s  # how long compare-and-set keeps retrying after conflicts

    @classmethod
    async def open(cls, bus, writer: str) -> "Registry":
        return cls(bus, await bus.kv(BUCKET), writer)

    # --- reading ---
    async def _get(self, strategy_id: str) -> tuple[RegistryEntry, int] | None:
        check_key(strategy_id)
        try:
            item = await self.kv.get(strategy_id)
        except KeyNotFoundError:  # also a deleted or purged key
            return None
        if item.value is None:
            return None
        return _decode(item.key, item.value), item.revision

    async def get(self, strategy_id: str) -> RegistryEntry | None:
        got = await self._get(strategy_id)
        return got[0] if got else None

    async def require(self, strategy_id: str) -> RegistryEntry:
        got = await self.get(strategy_id)
        if got is None:
            raise StrategyNotFound(
                f"no strategy {strategy_id!r} in the registry (`organism strategy list` shows them)"
            )
        return got

    async def entries(self, *, timeout: float = 10.0) -> list[RegistryEntry]:
        """Every current entry (values that fail to decode are logged and left out); all of
        them or an error (bus/state.py kv_entries): a short list would let validation fill
        more paper slots than there are."""
        out: dict[str, RegistryEntry] = {}
        for key, value in (await kv_entries(self.kv, timeout=timeout)).items():
            entry = _decode_or_log(key, value)
            if entry is not None:
                out[entry.strategy_id] = entry
        return sorted(out.values(), key=lambda e: e.strategy_id)

    async def watch(self) -> AsyncIterator[RegistryEntry]:
        """Every current entry, then every change as it is written (a purged key is skipped)."""
        watcher = await self.kv.watchall()
        try:
            async for item in watcher:
                if item is None or item.value is None or item.operation is not None:
                    continue
                entry = _decode_or_log(item.key, item.value)
                if entry is not None:
                    yield entry
        finally:
            await watcher.stop()

    async def view(self, on_change: Callable[[RegistryEntry], object] | None = None,
                   *, timeout: float = 10.0) -> "RegistryView":
        """An in-memory copy kept current in the background; returns once it holds every current
        entry. `on_change(entry)` is called for every value, the initial ones included."""
        v = RegistryView(self, on_change)
        await v.start(timeout)
        return v

    # --- writing ---
    async def create(self, entry: RegistryEntry, reason: str) -> RegistryEntry:
        """Enter a new strategy as `validated` (its first history line is this reason)."""
        check_create(entry, self.writer)
        if not entry.history:
            entry = msgspec.structs.replace(entry, history=[StageChange(
                stage=entry.stage, at=entry.stage_since, reason=reason, by=self.writer)])
        try:
            revision = await self.kv.create(entry.strategy_id, encode(entry))
        except KeyWrongLastSequenceError:
            raise StrategyExists(f"{entry.strategy_id} is already in the registry") from None
        await self._event(entry, None, revision, reason)
        logger.info("registry: {} entered as {} by {} ({})", entry.strategy_id, entry.stage,
                    self.writer, reason)
        return entry

    async def update(
        self,
        strategy_id: str,
        change: Callable[[RegistryEntry], RegistryEntry | None],
        reason: str = "",
    ) -> RegistryEntry:
        """Apply `change` (a pure function of the current entry; None = nothing to do) with
        compare-and-set on the KV revision, re-reading and re-applying after a conflict."""
        entry, _ = await self._update(strategy_id, change, self._check_update)
        if reason:
            logger.info("registry: {} updated by {}: {}", strategy_id, self.writer, reason)
        return entry

    def _check_update(self, old: RegistryEntry, new: RegistryEntry) -> None:
        check_update(old, new, self.writer)

    async def _update(self, strategy_id, change, check) -> tuple[RegistryEntry, int | None]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_s
        attempt = 0
        while attempt == 0 or loop.time() < deadline:
            attempt += 1
            got = await self._get(strategy_id)
            if got is None:
                raise StrategyNotFound(
                    f"no strategy {strategy_id!r} in the registry (`organism strategy list`)")
            old, revision = got
            new = change(old)
            if new is None or new == old:
                return old, None
            check(old, new)
            try:
                written = await self.kv.update(strategy_id, encode(new), last=revision)
            except KeyWrongLastSequenceError:
                # another writer got there first: re-read, re-apply; a little jitter keeps two
                # busy writers from colliding in lock-step
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt, 10)))
                continue
            return new, written
        raise RegistryConflict(
            f"{strategy_id}: {attempt} compare-and-set attempts in {self.retry_s} s lost to other "
            "writers; try again"
        )

    async def move(
        self,
        strategy_id: str,
        to_stage: Stage,
        reason: str,
        now: int,
        *,
        death: DeathReport | None = None,
    ) -> RegistryEntry:
        """Move to `to_stage` (legal moves and writers above); publishes the LifecycleEvent.
        Already in `to_stage`: nothing happens. `now`: ns, the organism's clock."""
        before: dict[str, str] = {}

        def change(e: RegistryEntry) -> RegistryEntry | None:
            if e.stage == to_stage:
                return None
            check_move(e, to_stage, self.writer)
            before["stage"] = e.stage
            return apply_move(e, to_stage, reason, self.writer, now, death=death)

        entry, revision = await self._update(strategy_id, change, lambda old, new: None)
        if revision is not None:
            await self._event(entry, before["stage"], revision, reason)
            logger.info("registry: {} {} -> {} by {} ({})", strategy_id, before["stage"],
                        to_stage, self.writer, reason)
        return entry

    async def set_flag(self, strategy_id: str, flag: FlagName, reason: str, now: int) -> RegistryEntry:
        """Set a flag (kept as it was if already set). `now`: ns."""
        check_flag(flag, self.writer)
        value = Flag(reason=reason, at=now, by=self.writer)

        def change(e: RegistryEntry) -> RegistryEntry | None:
            if getattr(e.flags, flag) is not None:
                return None
            return apply_flag(e, flag, value, now)

        entry, revision = await self._update(strategy_id, change, lambda old, new: None)
        if revision is not None:
            logger.info("registry: {} flagged {} by {} ({})", strategy_id, flag, self.writer, reason)
        return entry

    async def clear_flag(self, strategy_id: str, flag: FlagName, reason: str, now: int) -> RegistryEntry:
        check_flag(flag, self.writer)

        def change(e: RegistryEntry) -> RegistryEntry | None:
            if getattr(e.flags, flag) is None:
                return None
            return apply_flag(e, flag, None, now)

        entry, revision = await self._update(strategy_id, change, lambda old, new: None)
        if revision is not None:
            logger.info("registry: {} flag {} cleared by {} ({})", strategy_id, flag, self.writer,
                        reason)
        return entry

    async def _event(self, entry: RegistryEntry, from_stage: str | None, revision: int,
                     reason: str) -> None:
        event = LifecycleEvent(ts_event=entry.stage_since, ts_init=entry.stage_since,
                               strategy_id=entry.strategy_id, from_stage=from_stage,
                               to_stage=entry.stage, reason=reason)
        # The msg id names the KV write, so a retried publish is stored once.
        await self.bus.publish_durable(subjects.life_event(entry.strategy_id), event,
                                       msg_id=f"life:{entry.strategy_id}:{revision}")


class RegistryView:
    """The registry in memory, kept current by a KV watcher (risk's and the trader's view)."""

    def __init__(self, registry: Registry, on_change=None) -> None:
        self.registry = registry
        self.on_change = on_change
        self.entries: dict[str, RegistryEntry] = {}
        self.ready = asyncio.Event()
        self._watcher = None
        self._task: asyncio.Task | None = None
        self._need = 0  # the bucket's last revision when the view started
        self._seen = 0  # the highest revision the watcher delivered
        self._marked = False  # the watcher said its initial values are delivered

    def get(self, strategy_id: str) -> RegistryEntry | None:
        return self.entries.get(strategy_id)

    def trading(self) -> list[RegistryEntry]:
        return [e for e in self.entries.values() if is_trading(e)]

    async def start(self, timeout: float = 10.0) -> None:
        # Ready means: the watcher's end-of-initial-values marker AND the bucket's last revision
        # at start delivered. The marker alone can come first under load (nats-py sends it when
        # the server has nothing pending, before this client has read what the server sent),
        # and a view that starts empty makes risk call a registered strategy unknown.
        state = (await self.registry.kv.status()).stream_info.state
        self._need = state.last_seq if state.messages else 0
        self._watcher = await self.registry.kv.watchall()
        self._task = asyncio.create_task(self._run(), name="registry-view")
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except asyncio.TimeoutError:
            await self.stop()
            raise RegistryError(
                f"the registry did not load within {timeout} s; is JetStream up and the `registry` "
                "bucket provisioned (`organism up` does it)?"
            ) from None

    async def _run(self) -> None:
        async for item in self._watcher:
            if item is None:  # the watcher's marker: every current value delivered
                self._marked = True
                self._check_ready()
                continue
            self._seen = max(self._seen, item.revision or 0)
            if item.value is not None and item.operation is None:
                entry = _decode_or_log(item.key, item.value)
                if entry is not None:
                    self.entries[entry.strategy_id] = entry
                    if self.on_change is not None:
                        try:
                            result = self.on_change(entry)
                            if asyncio.iscoroutine(result):
                                await result
                        except Exception:
                            logger.exception("registry change handler failed for {}",
                                             entry.strategy_id)
            else:  # deleted or purged by hand
                self.entries.pop(item.key, None)
            if item.delta == 0:
                self._marked = True
            self._check_ready()

    def _check_ready(self) -> None:
        if self._marked and self._seen >= self._need:
            self.ready.set()

    async def stop(self) -> None:
        if self._watcher is not None:
            try:
                await self._watcher.stop()
            except Exception as exc:  # the connection is already gone
                logger.debug("registry watcher stop: {}", exc)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _decode(key: str, value: bytes) -> RegistryEntry:
    try:
        return decode(value, RegistryEntry)
    except DecodeFailure as exc:
        raise RegistryError(f"registry value of {key!r} does not decode: {exc.reason}") from None


def _decode_or_log(key: str, value: bytes) -> RegistryEntry | None:
    try:
        return _decode(key, value)
    except RegistryError as exc:
        logger.error("{} (left out; rewrite it with the operator CLI)", exc)
        return None


__all__ = [
    "BUCKET", "REGISTRY_STAGES", "FLAG_NAMES", "MOVES", "Registry", "RegistryView", "RegistryError",
    "IllegalChange", "StrategyNotFound", "StrategyExists", "RegistryConflict", "RegistrySection",
    "account_for", "apply_move", "apply_flag", "check_create", "check_move", "check_flag",
    "check_update", "is_trading", "paper_admissions",
]
