"""The `[validation]` config table: the gauntlet's thresholds (quant.gauntlet.config), which the
validation agent and `organism validate` share."""

from quant.gauntlet.config import ValidationConfig
from settings import register_section

register_section("validation", ValidationConfig)
