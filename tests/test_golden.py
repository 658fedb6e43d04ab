"""Golden logs: the DES writes byte-identical machine logs for every catalogue
experiment and seeds 0..2, whatever is refactored around it.

The runs use aligned phases (every machine's first tick one period after the
start, the schedule before start phases existed): ``phase = "aligned"``
reproduces those logs byte for byte; the default, random phases, does not.

``tests/golden/des_logs.json`` holds the SHA-256 of each ``machine-<id>.csv``.
Regenerate it only for a change that is meant to alter the logs, with
``python tests/test_golden.py`` (and say why in the commit).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden" / "des_logs.json"
SEEDS = (0, 1, 2)


def log_hashes(number: int, seed: int, directory: Path) -> dict[str, str]:
    """SHA-256 of each machine log of one catalogue run, written to ``directory``."""
    from lamport.config import experiment
    from lamport.des import simulate

    out = simulate(experiment(number).config(seed=seed, phase="aligned")).write(directory)
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.glob("machine-*.csv"))
    }


@pytest.mark.parametrize("number", range(1, 12))
def test_des_logs_match_the_golden_hashes(number, tmp_path):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for seed in SEEDS:
        key = f"exp{number:02d}-seed{seed}"
        assert log_hashes(number, seed, tmp_path / key) == golden[key], key


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        table = {
            f"exp{n:02d}-seed{s}": log_hashes(n, s, Path(tmp) / f"{n}-{s}")
            for n in range(1, 12)
            for s in SEEDS
        }
    GOLDEN.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN} ({len(table)} runs)", file=sys.stderr)
