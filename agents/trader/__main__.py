"""`python -m agents.trader` runs the trader agent (same as `organism agent trader`)."""

import sys

from organism.cli.main import main

sys.exit(main(["agent", "trader", *sys.argv[1:]]))
