"""`python -m agents.validation` runs the validation agent (same as `organism agent validation`)."""

import sys

from organism.cli.main import main

sys.exit(main(["agent", "validation", *sys.argv[1:]]))
