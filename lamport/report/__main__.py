"""``python -m lamport.report DIR``: write report.md and report.html into a run or sweep."""

from __future__ import annotations

from lamport.errors import quiet_start

quiet_start()  # a signal during start-up: exit 130/143, no traceback

# ruff: noqa: E402

import sys
import time
from pathlib import Path

from lamport.args import Parser, positive_float
from lamport.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="python -m lamport.report",
        description=(
            "Write report.md, report.html (self-contained) and figures/*.png into a run "
            "directory (either backend) or a sweep output directory."
        ),
    )
    parser.add_argument("dir", type=Path, help="a run directory or a sweep output directory")
    parser.add_argument(
        "--spacetime-seconds",
        type=positive_float,
        default=None,
        help="model seconds shown by a run's space-time diagram (default 5)",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)

    from lamport.report import write_report
    from lamport.schema import REPORT_HTML

    started = time.perf_counter()
    md = write_report(args.dir, args.spacetime_seconds)
    if not args.quiet:
        seconds = time.perf_counter() - started
        print(f"report: {md}  {md.parent / REPORT_HTML}  ({seconds:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
