"""``python -m lamport``: point at the three command lines."""

import sys

USAGE = """lamport: a laboratory for Lamport logical clocks

  python -m lamport.des       the SimPy backend: exp N | run --rates ... | sweep | bench
  python -m lamport.realtime  threads and TCP sockets on the wall clock: exp N | run --rates ...
  python -m lamport.report    report.md / report.html for a run or sweep directory

Each takes --help. The catalogue of experiments is in experiments/*.toml."""

if __name__ == "__main__":
    if len(sys.argv) > 1:
        print("error: python -m lamport takes no arguments; see python -m lamport", file=sys.stderr)
        sys.exit(2)
    print(USAGE)
