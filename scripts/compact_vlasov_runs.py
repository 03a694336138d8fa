"""Re-store committed Vlasov–Landau runs in their experiment's compact form
(:func:`landau_nb.experiments.phase_space.compact_run` with the experiment's ``keep``), e.g.
runs saved by an older version that kept every profile row. Idempotent; the .npz's SHA-256 in
the .json is rewritten by the save. Usage: ``python scripts/compact_vlasov_runs.py [OUT]``
(default results/paper)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from landau_nb.experiments.phase_space import VLASOV_EXPERIMENTS, compact_run
from landau_nb.vlasov import PhaseSpaceTrajectory


def main(out="results/paper") -> int:
    changed = 0
    for name, exp in VLASOV_EXPERIMENTS.items():
        for js in sorted((Path(out) / name).glob("*/n*_seed*.json")):
            before = json.loads(js.read_text()).get("compact")
            tr = PhaseSpaceTrajectory.load(js.with_suffix(""))
            compact_run(tr, exp.keep)
            if tr.meta["compact"] != before:
                size = js.with_suffix(".npz").stat().st_size
                tr.save(js.with_suffix(""))
                print(f"{js.with_suffix('')}: {size / 1e3:.0f} kB -> {js.with_suffix('.npz').stat().st_size / 1e3:.0f} kB")
                changed += 1
    print(f"{changed} run(s) compacted")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
