"""``python -m lamport.imports`` is ``lamport import``."""

import sys

from lamport.errors import run_cli
from lamport.imports import main

sys.exit(run_cli(main))
