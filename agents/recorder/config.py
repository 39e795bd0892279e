"""The `[recorder]` config table."""

from __future__ import annotations

from typing import Annotated

import msgspec

from settings import Section, register_section


class RecorderConfig(Section):
    database: str = "warehouse.duckdb"  # relative to organism.data_dir
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 256
    query_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0  # sys.warehouse.query limit


register_section("recorder", RecorderConfig)
