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
