"""GPU check (``make gpu-check``): CUDA tests, pair-sum throughput, SBTM step time vs n, the
ensemble speed-up and one paper-scale experiment's wall time, in at most ~8 minutes on one
H100/H200. Writes benchmarks/results/gpu.json (plotted by the runtime chapter, Fig. 5.6 right).

    python benchmarks/gpu_check.py [--device cuda] [--quick] [--budget 480] [--out PATH]

``--device cpu --quick`` is a smoke mode (tiny sizes, no CUDA tests) that checks the script
itself on a machine without a GPU (tests/test_cuda.py runs it); its JSON says
``"gpu": false`` and is not a GPU measurement. Every section is timed; a section that would
overrun the budget is cut short and says so in the JSON ("truncated").

Sections
* cuda_tests: ``pytest -m cuda tests/test_cuda.py tests/test_solve.py`` (pass/fail counts).
* pair_sums: Landau velocity (Coulomb, gamma = -3) and blob score by the tiled torch sums on
  the device, pairs per second at n = 10^4 .. 10^5.
* sbtm_step: one SBTM time step (K = 25 Adam steps, evaluation, gamma = 0 velocity) vs n =
  10^2 .. 10^6, float32, fused (CUDA graph) and the torch reference, with the log-log slope.
  Target: <= 10 ms at n = 10^5.
* ensemble: 5 members trained in one batched pass vs 5 single trainings (n = 10^3, 10^4).
* experiment: anisotropic_d3 (Example 5.2) at paper scale: every SBTM run (seeds batched by
  solve_ensemble) and blob run of the registry, float32. Target: <= 5 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import landau_nb as ln  # noqa: E402
from landau_nb.scores.sbtm import train_fused  # noqa: E402


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(f, dev, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        sync(dev)
        t0 = time.perf_counter()
        f()
        sync(dev)
        best = min(best, time.perf_counter() - t0)
    return best


class Budget:
    def __init__(self, seconds):
        self.end = time.perf_counter() + seconds

    def left(self):
        return self.end - time.perf_counter()


def cuda_tests(args, budget):
    if args.device != "cuda":
        return {"skipped": "not a CUDA run"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider",
           str(ROOT / "tests" / "test_cuda.py"), str(ROOT / "tests" / "test_solve.py")]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                          timeout=max(30.0, min(240.0, 0.5 * budget.left())))
    tail = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else []
    return {"returncode": proc.returncode, "summary": tail[0] if tail else "", "wall_s": time.perf_counter() - t0}


def pair_sums(args, dev, budget):
    ns = [200, 400] if args.quick else [10_000, 30_000, 100_000]
    p = ln.anisotropic_gaussian(3, -3.0)
    out = {"velocity_coulomb": {}, "blob_score": {}}
    for n in ns:
        if budget.left() < 30:
            out["truncated"] = True
            break
        x = p.sample(n, ln.make_generator(0, "gpu")).to(device=dev, dtype=torch.float32)
        s = -x
        tv = timed(lambda: ln.landau_velocity(x, s, gamma=-3.0, method="direct"), dev, 2)
        tb = timed(lambda: ln.blob_score(x, 0.1, method="direct"), dev, 2)
        out["velocity_coulomb"][str(n)] = {"s": tv, "pairs_per_s": n * n / tv}
        out["blob_score"][str(n)] = {"s": tb, "pairs_per_s": n * n / tb}
        print(f"pair sums n={n}: velocity {n * n / tv:.3g} pairs/s, blob {n * n / tb:.3g} pairs/s", flush=True)
    return out


def _estimator(p, x, backend):
    est = ln.SBTM(init_tol=0.5, init_lr=1e-2, init_max_iter=100, backend=backend)
    est.initialize(p, x, 0.0, 0)
    return est


def sbtm_step(args, dev, budget):
    ns = [100, 400] if args.quick else [100, 1000, 10_000, 100_000, 1_000_000]
    p = ln.anisotropic_gaussian(3)
    out = {}
    for backend in ("fused", "torch"):
        rows = {}
        for n in ns:
            if budget.left() < 60 or (backend == "torch" and n > 100_000):
                out.setdefault("truncated", []).append(f"{backend} n={n}")
                continue
            x = p.sample(n, ln.make_generator(0, "initial-sample")).to(device=dev, dtype=torch.float32)
            est = _estimator(p, x, backend)

            def step():
                s = est(x, 0.0)
                p.velocity(x, s)

            step()
            rows[str(n)] = timed(step, dev, 3 if n <= 100_000 else 1)
            print(f"sbtm {backend:>5} n={n:>8}: {rows[str(n)] * 1e3:9.2f} ms per step", flush=True)
        out[backend] = rows
        if len(rows) >= 2:
            ks = [int(k) for k in rows]
            big = [k for k in ks if k >= 10_000] or ks
            out[f"{backend}_slope"] = ln.loglog_slope(big if len(big) >= 2 else ks,
                                                      [rows[str(k)] for k in (big if len(big) >= 2 else ks)])
    return out


def ensemble(args, dev, budget):
    ns = [100] if args.quick else [1000, 10_000]
    p = ln.anisotropic_gaussian(3)
    out = {}
    for n in ns:
        if budget.left() < 60:
            out["truncated"] = True
            break
        xs = [p.sample(n, ln.make_generator(s, "initial-sample")).to(device=dev, dtype=torch.float32)
              for s in range(5)]
        members = [_estimator(p, x, "fused") for x in xs]
        singles = lambda: [train_fused([m], [x], 25) for m, x in zip(members, xs)]  # noqa: E731
        together = lambda: train_fused(members, xs, 25)  # noqa: E731
        singles(), together()
        ts, te = timed(singles, dev), timed(together, dev)
        out[str(n)] = {"five_singles_s": ts, "ensemble_s": te, "speedup": ts / te}
        print(f"ensemble n={n}: 5 singles {ts * 1e3:.2f} ms, one batched pass {te * 1e3:.2f} ms "
              f"(x{ts / te:.1f})", flush=True)
    return out


def experiment(args, dev, budget):
    exp = ln.EXPERIMENTS["anisotropic_d3"]
    p = exp.make_problem()
    runs = exp.runs("paper")
    if args.quick:
        runs = [r for r in runs if r.n <= 200 and r.seed <= 1]
    t_end = p.t0 + (5 * p.dt if args.quick else p.t_end - p.t0)
    groups = {}
    for r in runs:                     # by label: two blob sweeps differ in their bandwidth rule
        groups.setdefault((r.label, r.solver, r.n), []).append(r)
    t0 = time.perf_counter()
    done, rows = 0, []
    for (label, solver, n), rs in sorted(groups.items(), key=lambda kv: kv[0][2]):
        if budget.left() < 20:
            break
        c = time.perf_counter()
        opts = dict(rs[0].options)
        kw = dict(n=n, device=dev, dtype=torch.float32, t_end=t_end, **rs[0].solve)
        if solver == "sbtm":
            ln.solve_ensemble(p, "sbtm", seeds=[r.seed for r in rs], backend="fused", **kw, **opts)
        else:
            for r in rs:
                ln.solve(p, solver, seed=r.seed, **kw, **opts)
        rows.append({"label": label, "solver": solver, "n": n, "runs": len(rs), "wall_s": time.perf_counter() - c})
        done += len(rs)
        print(f"experiment {label} n={n}: {len(rs)} runs in {rows[-1]['wall_s']:.1f} s", flush=True)
    wall = time.perf_counter() - t0
    return {"experiment": exp.name, "runs_done": done, "runs_total": len(runs), "wall_s": wall,
            "complete": done == len(runs), "steps_per_run": round((t_end - p.t0) / p.dt), "groups": rows}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the script")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for the whole check")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gpu.json"))
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu-check: no CUDA device visible (torch.cuda.is_available() is False); "
              "use --device cpu --quick for a smoke run", file=sys.stderr)
        return 2
    dev = torch.device(args.device)
    budget = Budget(args.budget)
    start = time.perf_counter()
    record = {"meta": {"device": args.device, "gpu": dev.type == "cuda", "quick": args.quick,
                       "name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor(),
                       "torch": torch.__version__, "python": platform.python_version(),
                       "cpu_count": os.cpu_count(), "budget_s": args.budget}}
    for name, f in (("cuda_tests", lambda: cuda_tests(args, budget)), ("pair_sums", lambda: pair_sums(args, dev, budget)),
                    ("sbtm_step", lambda: sbtm_step(args, dev, budget)),
                    ("ensemble", lambda: ensemble(args, dev, budget)),
                    ("experiment", lambda: experiment(args, dev, budget))):
        c = time.perf_counter()
        try:
            record[name] = f()
        except Exception as exc:                     # noqa: BLE001 - recorded, the check goes on
            record[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"{name}: FAILED {type(exc).__name__}: {exc}", flush=True)
        record[name]["section_s"] = time.perf_counter() - c
        record["meta"]["wall_s"] = time.perf_counter() - start
        out = Path(args.out)                         # after every section: a lease can end mid-check
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=1))
    print(f"wrote {out} ({record['meta']['wall_s']:.0f} s)")
    failed = [k for k, v in record.items() if isinstance(v, dict) and "error" in v]
    tests_bad = record["cuda_tests"].get("returncode", 0) != 0
    return 1 if failed or tests_bad else 0


if __name__ == "__main__":
    sys.exit(main())
