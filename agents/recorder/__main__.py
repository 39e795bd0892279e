"""`python -m agents.recorder` runs the recorder agent (same as `organism agent recorder`)."""

import sys

from organism.cli.main import main

sys.exit(main(["agent", "recorder", *sys.argv[1:]]))
