"""`python -m agents.evaluator` runs one evaluation worker (same as `organism agent evaluator`)."""

import sys

from organism.cli.main import main

sys.exit(main(["agent", "evaluator", *sys.argv[1:]]))
