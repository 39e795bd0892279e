"""`python -m agents.market_data` runs the market-data agent (same as `organism agent market_data`)."""

import sys

from organism.cli.main import main

sys.exit(main(["agent", "market_data", *sys.argv[1:]]))
