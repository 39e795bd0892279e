"""`python -m agents.execution --account paper|live` runs the execution agent of one account
(same as `organism agent execution --account ...`)."""

import sys

from organism.cli.main import main

sys.exit(main(["agent", "execution", *sys.argv[1:]]))
