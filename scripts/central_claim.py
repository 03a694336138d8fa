"""The paper's central claim, measured: SBTM matches the covariance of anisotropic Maxwellian
solutions with few particles where the blob method does not (issue "landau_nb core").

Runs the anisotropic Maxwell problem (paper Example 5.2) with the paper's hyper-parameters,
float64, forward Euler, and prints the largest Frobenius error over t of the second-moment
matrix against the closed form started from the sample's own Sigma(t0).

    python scripts/central_claim.py            # d = 3, n = 100, seeds 0-3; d = 10, n = 1000, seed 0
    python scripts/central_claim.py --quick    # d = 3 only
"""

import argparse
import time

import numpy as np

import landau_nb as ln


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="d = 3 only")
    ap.add_argument("--only-d10", action="store_true", help="d = 10 only")
    ap.add_argument("--no-adaptive", action="store_true", help="skip the adaptive SBTM runs")
    ap.add_argument("--seeds", type=int, default=4, help="seeds for d = 3 (default 4)")
    args = ap.parse_args()
    ln.seed_everything(0, threads=2)
    methods = ["sbtm", "blob"] + ([] if args.no_adaptive else ["sbtm_adaptive"])

    def solve_opts(m):
        return ("sbtm", {"adaptive": True}) if m == "sbtm_adaptive" else (m, {})

    results = {}
    cases = [] if args.only_d10 else [(3, 100, range(args.seeds))]
    if not args.quick:
        cases.append((10, 1000, [0]))
    for d, n, seeds in cases:
        problem_rows = {}
        for m in methods:
            name, opts = solve_opts(m)
            errs = []
            t = time.perf_counter()
            for seed in seeds:
                traj = ln.solve(ln.anisotropic_gaussian(d, 0.0), name, n=n, seed=seed, **opts)
                errs.append(traj.max_error("cov_error_sample"))
            problem_rows[m] = np.mean(errs)
            print(f"d={d:2d} n={n:5d} {m:14s} per seed: " + " ".join(f"{e:.3f}" for e in errs)
                  + f"   mean {np.mean(errs):.3f}   ({time.perf_counter() - t:.0f} s)", flush=True)
        ratio = problem_rows["blob"] / problem_rows["sbtm"]
        line = f"d={d:2d} n={n:5d} blob / sbtm = {ratio:.1f}x"
        if "sbtm_adaptive" in problem_rows:
            line += f"   blob / adaptive sbtm = {problem_rows['blob'] / problem_rows['sbtm_adaptive']:.1f}x"
        print(line, flush=True)
        results[(d, n)] = problem_rows
    return results


if __name__ == "__main__":
    main()
