"""DES benchmark: `python benchmarks/bench_des.py` (same as `python -m lamport.des bench`)."""

import sys

from lamport.des.bench import main

if __name__ == "__main__":
    sys.exit(main())
