"""Every configuration table beyond the shared ones, registered with `settings` by importing
the module that defines it. Import this before `settings.load_config` to read the whole file."""

import venue.config  # noqa: F401  [venue]
import bus.registry  # noqa: F401  [registry]
import agents.recorder.config  # noqa: F401  [recorder]
import agents.validation.config  # noqa: F401  [validation]
import agents.market_data.config  # noqa: F401  [market_data]
import agents.evolution.config  # noqa: F401  [evolution]
import agents.risk.config  # noqa: F401  [risk]
import agents.trader.config  # noqa: F401  [trader]
import agents.execution.config  # noqa: F401  [execution]
