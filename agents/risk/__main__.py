"""`python -m agents.risk` runs the risk agent (same as `organism agent risk`)."""

import sys

from organism.cli.main import main

sys.exit(main(["agent", "risk", *sys.argv[1:]]))
