#!/usr/bin/env python3
"""Write the verdict of every claim on the committed paper-scale runs to a JSON snapshot.

The scoreboard page compares the verdicts of the checked-out code with the snapshot
``results/verdicts/previous.json`` (``landau_nb.book.scoreboard.verdict_changes``): which
claims changed and why. Take a new snapshot when a revision of the claims or of the runs has
landed and its changes have been described, from a checkout of that commit::

    python scripts/snapshot_verdicts.py results/verdicts/previous.json

The file records the commit of the checkout (``git rev-parse --short HEAD``) and, per claim,
its kind, verdict, measured value and detail.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the JSON file to write")
    parser.add_argument("--folder", type=Path, default=None,
                        help="the committed runs (default: results/paper of this checkout)")
    args = parser.parse_args(argv)
    from landau_nb.book import claims
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluated = claims.evaluate(folder=args.folder)
    snap = {"commit": commit, "claims": {c.key: {"kind": c.kind, "verdict": v.reproduced, "value": v.value,
                                                 "detail": v.detail} for c, v in evaluated}}
    args.out.write_text(json.dumps(snap, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(snap['claims'])} verdicts at {commit} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
