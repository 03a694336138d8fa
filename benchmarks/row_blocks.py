"""What the stop checks cost: a compiled pair sum in row blocks (``pairsum.CHUNK_WORK``, one
call per block and a stop check between them) against the same sum in one call.

    python benchmarks/row_blocks.py [--threads 1] [--n 20000 40000] [--repeats 5]
        [--out benchmarks/results/row_blocks.json]

Coulomb velocity (gamma = -3) and blob score, d = 3 and d = 10, float32, at each n; the two
variants alternate within each repeat (best of ``repeats``) so that the machine's load hits
both alike. Also checks that both give the same bits. Not a test; a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from landau_nb.equation import pairsum  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, nargs="+", default=[20000, 40000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cpu", action="store_true", help="CPU time of the process (less sensitive to other "
                    "work on the cores) instead of wall time")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "row_blocks.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    blocked_work = pairsum.CHUNK_WORK
    clock = time.process_time if args.cpu else time.perf_counter
    rows = []
    for n in args.n:
        for d in (3, 10):
            g = torch.Generator().manual_seed(0)
            x = torch.randn(n, d, generator=g, dtype=torch.float32)
            s = torch.randn(n, d, generator=g, dtype=torch.float32)
            calls = {"landau": lambda: pairsum.compiled_velocity_sum(x, s, -3.0),
                     "blob": lambda: pairsum.compiled_blob_score(x, 0.3)}
            for name, call in calls.items():
                call()                                        # compiled and warm
                best = {"one call": float("inf"), "row blocks": float("inf")}
                out = {}
                for _ in range(args.repeats):
                    for variant, work in (("one call", float("inf")), ("row blocks", blocked_work)):
                        pairsum.CHUNK_WORK = work
                        t = clock()
                        out[variant] = call()
                        best[variant] = min(best[variant], clock() - t)
                pairsum.CHUNK_WORK = blocked_work
                blocks = -(-(n * n * d) // blocked_work)
                row = {"kernel": name, "n": n, "d": d, "blocks": int(blocks), "one_call_s": best["one call"],
                       "row_blocks_s": best["row blocks"],
                       "cost": best["row blocks"] / best["one call"] - 1,
                       "identical": bool(torch.equal(out["one call"], out["row blocks"]))}
                rows.append(row)
                print(f"{name:7s} n={n:6d} d={d:2d} blocks~{row['blocks']:4d}  one call {row['one_call_s']:.3f} s  "
                      f"row blocks {row['row_blocks_s']:.3f} s  cost {100 * row['cost']:+.1f} %  "
                      f"identical {row['identical']}", flush=True)
    result = {"threads": args.threads, "chunk_work": blocked_work, "clock": "cpu" if args.cpu else "wall",
              "load": os.getloadavg(), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
