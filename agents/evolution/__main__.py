"""`python -m agents.evolution` runs the evolution agent (same as `organism agent evolution`)."""

import sys

from organism.cli.main import main

sys.exit(main(["agent", "evolution", *sys.argv[1:]]))
