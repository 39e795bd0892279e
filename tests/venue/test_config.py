"""venue/defaults.toml mirrors SimConfig's defaults, so the deploy config shows the truth."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

import venue
from venue.config import SimConfig


def test_defaults_file_mirrors_the_struct() -> None:
    path = Path(venue.__file__).parent / "defaults.toml"
    table = tomllib.loads(path.read_text())["venue"]["sim"]
    assert msgspec.convert(table, SimConfig) == SimConfig()
    assert set(table) == set(SimConfig.__struct_fields__)
