"""The wire contract: round-trips for every message type, golden fixtures, validation errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given

import schemas
from bus.codec import DecodeFailure, decode, encode
from tests.schemas.examples import EXAMPLES
from tests.schemas.strategies import for_struct

GOLDEN = Path(__file__).parent / "golden"



def test_every_message_type_has_an_example_and_a_golden_fixture():
    names = {cls.__name__ for cls in schemas.ALL_MESSAGES}
    assert names == set(EXAMPLES), "add the new type to tests/schemas/examples.py"
    missing = sorted(n for n in names if not (GOLDEN / f"{n}.json").exists())
    assert not missing, (
        f"no golden fixture for {missing}: run `python -m tests.schemas.make_golden` once and "
        "commit the file (never edit an existing one)"
    )


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_golden_fixture_still_decodes_to_the_example(name):
    """Yesterday's bytes must decode today: schemas only grow, with defaults, at the end."""
    data = (GOLDEN / f"{name}.json").read_bytes()
    assert decode(data) == EXAMPLES[name]
    assert decode(data, type(EXAMPLES[name])) == EXAMPLES[name]


@pytest.mark.parametrize("cls", schemas.ALL_MESSAGES, ids=lambda c: c.__name__)
def test_round_trip_property(cls):
    @given(for_struct(cls))
    def check(message):
        data = encode(message)
        assert decode(data) == message
        assert decode(data, cls) == message

    check()


def test_messages_are_frozen_and_tagged():
    m = EXAMPLES["OrderIntent"]
    with pytest.raises(AttributeError):
        m.size = Decimal(1)  # type: ignore[misc]
    assert msgspec.json.decode(encode(m))["type"] == "OrderIntent"


def test_money_is_exact_on_the_wire():
    m = EXAMPLES["OrderFilled"]
    raw = msgspec.json.decode(encode(m))
    assert raw["price"] == "60120" and raw["fee"] == "0.405810"
    assert decode(encode(m)).fee == Decimal("0.405810")


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"size": "-1"}, "`size` must be > 0"),
        ({"size": "0"}, "`size` must be > 0"),
        ({"size": "NaN"}, "must be a finite amount"),
        ({"side": "long"}, "Invalid enum value 'long'"),
        ({"coin": ""}, "Expected `str` of length >= 1"),
        ({"ts_event": -5}, "Expected `int` >= 0"),
        ({"correlation_id": None}, "Expected `str`, got `null`"),
    ],
)
def test_invalid_order_intent_is_refused_with_the_reason(patch, expected):
    raw = msgspec.json.decode(encode(EXAMPLES["OrderIntent"]))
    raw.update(patch)
    with pytest.raises(DecodeFailure) as err:
        decode(msgspec.json.encode(raw))
    assert expected in err.value.reason


def test_garbage_and_unknown_types_are_refused():
    with pytest.raises(DecodeFailure, match="malformed"):
        decode(b"\x00\x01not json")
    with pytest.raises(DecodeFailure, match="Invalid value 'Nope'"):
        decode(b'{"type":"Nope","ts_event":1,"ts_init":1}')


def test_decoding_as_the_wrong_type_is_refused():
    with pytest.raises(DecodeFailure):
        decode(encode(EXAMPLES["Candle"]), schemas.OrderIntent)


def test_new_fields_with_defaults_keep_old_messages_decodable():
    """The growth rule itself, shown on a throwaway pair of versions."""

    class V1(schemas.Message, frozen=True, kw_only=True, tag="Probe"):
        coin: str

    class V2(schemas.Message, frozen=True, kw_only=True, tag="Probe"):
        coin: str
        venue: str = "hyperliquid"

    old = msgspec.json.encode(V1(ts_event=1, ts_init=1, coin="BTC"))
    assert msgspec.json.decode(old, type=V2) == V2(ts_event=1, ts_init=1, coin="BTC")


def test_progress_before_per_island_bests_still_decodes():
    """EvolutionProgress grew `island_best`: yesterday's bytes decode with an empty list."""
    old = decode((GOLDEN / "EvolutionProgress.json").read_bytes())
    assert old.island_best == []
    new = msgspec.structs.replace(old, island_best=[1.7, 0.4])
    assert decode(encode(new)) == new


def _structs_with_idents():
    """(struct class, Ident field) for every struct in schemas/, messages and nested ones."""
    import importlib
    import inspect
    import pkgutil
    import typing

    from schemas.base import IDENT

    out = []
    for info in pkgutil.iter_modules(schemas.__path__):
        if info.name == "base":  # the abstract bases
            continue
        module = importlib.import_module(f"schemas.{info.name}")
        for cls in vars(module).values():
            if (inspect.isclass(cls) and issubclass(cls, msgspec.Struct)
                    and cls.__module__ == module.__name__):
                hints = typing.get_type_hints(cls, include_extras=True)
                out += [(cls, f) for f in cls.__struct_fields__
                        if IDENT in getattr(hints[f], "__metadata__", ())]
    return out


def _example_of(cls):
    """A valid instance of `cls`: an example message, or one nested in an example."""
    seen = list(EXAMPLES.values())
    while seen:
        value = seen.pop()
        if type(value) is cls:
            return value
        if isinstance(value, msgspec.Struct):
            seen += [getattr(value, f) for f in value.__struct_fields__]
        elif isinstance(value, (list, tuple)):
            seen += list(value)
        elif isinstance(value, dict):
            seen += list(value.values())
    raise AssertionError(f"no example holds a {cls.__name__}: add one to tests/schemas/examples.py")


IDENT_FIELDS = _structs_with_idents()


def test_every_struct_with_an_identifier_is_checked():
    """An Ident's whitespace check lives in schemas.base.Checked.__post_init__ (msgspec's regex
    cost ~0.6 µs a field): every struct with an Ident field must derive from Checked."""
    from schemas.base import Checked

    assert len(IDENT_FIELDS) > 40
    unchecked = sorted({c.__name__ for c, _ in IDENT_FIELDS if not issubclass(c, Checked)})
    assert not unchecked, f"{unchecked} have Ident fields: derive them from schemas.base.Checked"


@pytest.mark.parametrize("cls, field", IDENT_FIELDS, ids=lambda x: getattr(x, "__name__", x))
@pytest.mark.parametrize("bad", ["B TC", "BTC\n", "\tBTC", "B\u00a0TC", "B\u3000TC", "B\u2028"])
def test_identifiers_with_whitespace_are_refused_at_decode_and_construction(cls, field, bad):
    raw = msgspec.to_builtins(_example_of(cls))
    raw[field] = bad
    with pytest.raises(msgspec.ValidationError, match=f"`{field}` must be an identifier without "
                                                      "whitespace"):
        msgspec.json.decode(msgspec.json.encode(raw), type=cls)
    with pytest.raises(ValueError, match="without whitespace"):
        msgspec.structs.replace(_example_of(cls), **{field: bad})


def test_identifier_check_is_exactly_no_whitespace():
    """The fast test (printable, no space) and its fallback accept exactly the strings that
    contain no str.isspace() character, as msgspec's ^\\S+$ did (but for one quirk of `$`:
    "BTC\\n" matched it and is now refused)."""
    from hypothesis import strategies as st

    ok = msgspec.to_builtins(EXAMPLES["Candle"])

    @given(st.text(min_size=1, max_size=12))
    def check(text):
        ok["coin"] = text
        data = msgspec.json.encode(ok)
        if any(c.isspace() for c in text):
            with pytest.raises(DecodeFailure):
                decode(data, schemas.Candle)
        else:
            assert decode(data, schemas.Candle).coin == text

    check()
    # zero-width joiner, private use: not whitespace, accepted as before
    ok["coin"] = "A\u200dB\ue000"
    assert decode(msgspec.json.encode(ok), schemas.Candle).coin == "A\u200dB\ue000"


def test_json_schema_still_states_the_identifier_rule():
    schema = msgspec.json.schema(schemas.OrderIntent)
    coin = schema["$defs"]["OrderIntent"]["properties"]["coin"]
    assert coin == {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^\\S+$"}
