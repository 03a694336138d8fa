"""Time per time step of SBTM and of the blob method vs n, with fitted log-log slopes.

    python benchmarks/steps.py [--quick] [--threads 2] [--dtype float32] [--out benchmarks/results/steps.json]

One time step = the score (SBTM: K = 25 Adam steps of the denoising loss on the paper's
network, then one evaluation; blob: the two-term blob score by the package's "auto" backend,
compiled on the CPU) + the Landau velocity (Maxwellian molecules: the O(n) moment form), for
the anisotropic Gaussian start in d = 3. Each time is the best of a few steps measured in this
run. The issue's target: SBTM's slope <= 1.1 over n = 10^3 .. 10^5 (gamma = 0).

Not a test (pytest collects only tests/); the runtime chapter of the book plots the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import landau_nb as ln  # noqa: E402


def best_of(f, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n up to 10^4 only")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "steps.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    problem = ln.anisotropic_gaussian(3)
    ns_sbtm = [1000, 3000, 10_000, 30_000, 100_000]
    ns_blob = [1000, 3000, 10_000, 30_000, 100_000]
    if args.quick:
        ns_sbtm, ns_blob = ns_sbtm[:3], ns_blob[:3]
    start = time.perf_counter()
    load0 = os.getloadavg()
    rows = {"sbtm": {}, "blob": {}}
    for n in ns_sbtm:
        x = problem.sample(n, ln.make_generator(0, "initial-sample")).to(dtype)
        est = ln.SBTM(init_tol=1e-1, init_lr=1e-2)
        est.initialize(problem, x, 0.0, 0)

        def step():
            s = est(x, 0.0)
            problem.velocity(x, s)

        step()                                            # warm-up
        rows["sbtm"][n] = best_of(step, 3 if n <= 30_000 else 2)
        print(f"sbtm  n = {n:>7}: {rows['sbtm'][n]:.4f} s per step", flush=True)
    for n in ns_blob:
        x = problem.sample(n, ln.make_generator(0, "initial-sample")).to(dtype)
        est = ln.Blob()
        est.initialize(problem, x, 0.0, 0)

        def step():
            s = est(x, 0.0)
            problem.velocity(x, s)

        step()
        rows["blob"][n] = best_of(step, 3 if n <= 30_000 else 1)
        print(f"blob  n = {n:>7}: {rows['blob'][n]:.4f} s per step", flush=True)
    slopes = {m: ln.loglog_slope(list(r), list(r.values())) for m, r in rows.items()}
    print(f"\ntime per step (s), d = 3, gamma = 0, {args.dtype}, {args.threads} threads")
    ns = sorted(set(ns_sbtm) | set(ns_blob))
    print(f"{'method':<6}" + "".join(f"{'n=' + str(n):>12}" for n in ns) + f"{'slope':>8}")
    for m, r in rows.items():
        print(f"{m:<6}" + "".join(f"{r[n]:>12.4g}" if n in r else f"{'':>12}" for n in ns) + f"{slopes[m]:>8.2f}")
    ratio = {n: rows["blob"][n] / rows["sbtm"][n] for n in ns if n in rows["blob"] and n in rows["sbtm"]}
    print("blob / sbtm time per step: " + ", ".join(f"n={n}: {v:.2f}" for n, v in ratio.items()))
    record = {
        "meta": {"threads": args.threads, "dtype": args.dtype, "torch": torch.__version__,
                 "python": platform.python_version(), "cpu_count": os.cpu_count(),
                 "load_average_start": load0, "load_average_end": os.getloadavg(),
                 "wall_s": time.perf_counter() - start, "quick": args.quick},
        "seconds_per_step": {m: {str(n): t for n, t in r.items()} for m, r in rows.items()},
        "slopes": slopes, "blob_over_sbtm": {str(n): v for n, v in ratio.items()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
