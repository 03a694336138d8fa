"""Pair-sum benchmarks: every ratio below is measured in one run of this script.

    python benchmarks/pair_sums.py [--quick] [--threads 2] [--out benchmarks/results/cpu.json]

Tables (and the JSON that the book's runtime chapter plots):

1. moments vs direct: Maxwell (gamma = 0) velocity, d = 3, float64, n = 400 .. 25 600.
   The direct sum at n = 25 600 is timed once (it takes ~1 min on 2 cores); with --quick it
   is extrapolated from the largest measured n by the n^2 law (marked "extrapolated").
2. compiled vs plain torch: Coulomb velocity (gamma = -3) and blob score, d = 3,
   n = 2 000 / 5 000 / 20 000, float32 and float64, pairs/s and ratio, plus the error of each
   against a float64 reference (the compiled float64 sum, itself checked against the torch
   float64 sum in tests/test_pairsum.py).
3. crossover: smallest n from which the compiled sums beat torch (sets "auto").
4. what limits the kernel: threads 1 vs 2, gamma = 0 (no sqrt) vs -3 vs a non-integer gamma
   (pow, not vectorised), generic-d kernel at d = 5.
5. moment-form velocity at n = 10^6, d = 10.
6. random batches (batch 100) vs the full compiled sum at n = 10^5, d = 3, float64, with the
   conservation residuals, and the error against the full sum vs batch size.

Not a test (pytest collects only tests/). Timings are wall-clock best-of-k; the machine's load
average is recorded, since other work on the same cores slows every number.
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
from landau_nb.equation import pairsum  # noqa: E402

F32, F64 = torch.float32, torch.float64
DT = {"float32": F32, "float64": F64}


def timed(f, *, repeats=3, min_time=0.0, warmup=True, cpu=False):
    """Best wall time of f() over `repeats` calls (more while under min_time); returns
    (t, out), or (t, cpu_t, out) with cpu=True, cpu_t the least process CPU time of a call
    (all threads; on a machine shared with other work, n^2 / cpu_t is the throughput the
    cores give when they are free, wall time is what was seen)."""
    out = f() if warmup else None
    best, best_cpu, total, k = float("inf"), float("inf"), 0.0, 0
    while k < repeats or total < min_time:
        t0, c0 = time.perf_counter(), time.process_time()
        out = f()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        best, best_cpu, total, k = min(best, dt), min(best_cpu, dc), total + dt, k + 1
    return (best, best_cpu, out) if cpu else (best, out)


def data(n, d, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, dtype=F64, generator=g)
    s = -x + 0.3 * torch.randn(n, d, dtype=F64, generator=g)    # a score-like field
    return x.to(dtype), s.to(dtype)


def rel(a, ref):
    a, ref = a.double(), ref.double()
    return float((a - ref).norm() / ref.norm())


def table(title, header, rows):
    print(f"\n{title}")
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(str(h).rjust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))


def g3(v):
    return f"{v:.3g}"


# --------------------------------------------------------------------------- 1. moments vs direct
def bench_moments(quick):
    ns = [400, 1600, 6400, 25600]
    rows, out = [], []
    rate = None
    for n in ns:
        x, s = data(n, 3, F64)
        tm, vm = timed(lambda: ln.landau_velocity(x, s, gamma=0, method="moments"), repeats=5, min_time=0.2)
        if n <= 6400 or not quick:
            big = n > 6400
            td, vd = timed(lambda: ln.landau_velocity(x, s, gamma=0, method="direct"),
                           repeats=1 if big else 3, warmup=not big)
            how = "measured (1 run)" if big else "measured (best of 3)"
            rate = n * n / td
            err = rel(vm, vd)
        else:
            td, how, err = n * n / rate, f"extrapolated from n={ns[ns.index(n) - 1]} (n^2)", None
        out.append({"n": n, "d": 3, "dtype": "float64", "t_moments_s": tm, "t_direct_s": td,
                    "ratio": td / tm, "direct": how, "rel_diff": err})
        rows.append([n, g3(tm * 1e3), g3(td * 1e3), g3(td / tm), how, "-" if err is None else f"{err:.1e}"])
    table("1. Maxwell velocity (gamma = 0, d = 3, float64): moment form vs direct torch sum",
          ["n", "moments ms", "direct ms", "ratio", "direct timing", "rel diff"], rows)
    return out


# --------------------------------------------------------------------------- 2. compiled vs torch
def bench_compiled(quick):
    ns = [2000, 5000] if quick else [2000, 5000, 20000]
    out, rows = [], []
    for kind in ("velocity", "blob"):
        for dname, dtype in DT.items():
            for n in ns:
                x, s = data(n, 3, dtype, seed=n)
                eps = ln.blob_bandwidth(x.double()) if kind == "blob" else None
                if kind == "velocity":
                    f_t = lambda: ln.landau_velocity(x, s, gamma=-3.0, method="direct")  # noqa: E731
                    f_c = lambda: ln.landau_velocity(x, s, gamma=-3.0, method="compiled")  # noqa: E731
                    f_ref = lambda: ln.landau_velocity(x.double(), s.double(), gamma=-3.0,  # noqa: E731
                                                       method="compiled")
                else:
                    f_t = lambda: ln.blob_score(x, eps, method="direct")  # noqa: E731
                    f_c = lambda: ln.blob_score(x, eps, method="compiled")  # noqa: E731
                    f_ref = lambda: ln.blob_score(x.double(), eps, method="compiled")  # noqa: E731
                big = n >= 20000
                tt, ct, vt = timed(f_t, repeats=1 if big else 2, warmup=not big, cpu=True)
                tc, cc, vc = timed(f_c, repeats=3, min_time=0.3, cpu=True)
                ref = vc if dtype == F64 else f_ref()
                row = {"kernel": "coulomb_velocity" if kind == "velocity" else "blob_score", "n": n, "d": 3,
                       "dtype": dname, "t_torch_s": tt, "t_compiled_s": tc,
                       "pairs_per_s_torch": n * n / tt, "pairs_per_s_compiled": n * n / tc,
                       "ratio": tt / tc, "cpu_s_torch": ct, "cpu_s_compiled": cc,
                       "pairs_per_cpu_s_torch": n * n / ct, "pairs_per_cpu_s_compiled": n * n / cc,
                       "ratio_cpu": ct / cc, "rel_diff_compiled_vs_torch": rel(vc, vt),
                       "rel_err_torch_vs_f64": rel(vt, ref), "rel_err_compiled_vs_f64": rel(vc, ref),
                       "torch_repeats": 1 if big else 2}
                out.append(row)
                rows.append([row["kernel"], dname, n, g3(row["pairs_per_s_torch"]),
                             g3(row["pairs_per_s_compiled"]), f"{row['ratio']:.1f}",
                             g3(row["pairs_per_cpu_s_torch"]), g3(row["pairs_per_cpu_s_compiled"]),
                             f"{row['ratio_cpu']:.1f}",
                             f"{row['rel_err_torch_vs_f64']:.1e}", f"{row['rel_err_compiled_vs_f64']:.1e}"])
                print(".", end="", flush=True)
    table("2. compiled (numba) vs plain torch, d = 3 (pairs/s = n^2 / time; blob: two passes of n^2)",
          ["kernel", "dtype", "n", "torch pairs/s", "compiled pairs/s", "ratio", "torch pairs/cpu-s",
           "compiled pairs/cpu-s", "cpu ratio", "torch err", "compiled err"],
          rows)
    return out


# --------------------------------------------------------------------------- 3. crossover
def bench_crossover():
    ns = [16, 32, 64, 128, 256, 512]
    out, rows = [], []
    for kind in ("velocity", "blob"):
        for dname, dtype in DT.items():
            times = []
            for n in ns:
                x, s = data(n, 3, dtype)
                if kind == "velocity":
                    tt, _ = timed(lambda: ln.landau_velocity(x, s, gamma=-3.0, method="direct"), repeats=5, min_time=0.1)
                    tc, _ = timed(lambda: ln.landau_velocity(x, s, gamma=-3.0, method="compiled"), repeats=5, min_time=0.1)
                else:
                    tt, _ = timed(lambda: ln.blob_score(x, 0.3, method="direct"), repeats=5, min_time=0.1)
                    tc, _ = timed(lambda: ln.blob_score(x, 0.3, method="compiled"), repeats=5, min_time=0.1)
                times.append((n, tt, tc))
            faster = [n for n, tt, tc in times if tc < tt]
            cross = next((n for n in ns if all(tc < tt for m, tt, tc in times if m >= n)), None)
            out.append({"kernel": kind, "dtype": dname, "crossover_n": cross,
                        "times": [{"n": n, "t_torch_s": tt, "t_compiled_s": tc} for n, tt, tc in times]})
            rows.append([kind, dname, cross, " ".join(f"{n}:{tt / tc:.1f}" for n, tt, tc in times),
                         len(faster)])
    table(f"3. crossover (gamma = -3 / blob, d = 3): torch time / compiled time per n; "
          f"'auto' uses compiled from n = {pairsum.COMPILED_MIN_N}",
          ["kernel", "dtype", "crossover n", "ratio at n", "#faster"], rows)
    return out


# --------------------------------------------------------------------------- 4. limits
def bench_limits(threads):
    n = 20000
    out, rows = {}, []
    for dname, dtype in DT.items():
        x, s = data(n, 3, dtype)
        for nt in sorted({1, threads}):
            torch.set_num_threads(nt)
            for gamma in (-3.0, 0.0, -2.5):
                m = n if gamma != -2.5 else 4000
                xm, sm = x[:m], s[:m]
                t, c, _ = timed(lambda: ln.landau_velocity(xm, sm, gamma=gamma, method="compiled"),
                                repeats=2, cpu=True)
                key = f"{dname}_threads{nt}_gamma{gamma:g}"
                out[key] = m * m / t
                out[key + "_per_cpu_s"] = m * m / c
                rows.append([dname, nt, f"{gamma:g}", 3, m, g3(m * m / t), g3(m * m / c)])
        torch.set_num_threads(threads)
        x5, s5 = data(8000, 5, dtype)
        t, c, _ = timed(lambda: ln.landau_velocity(x5, s5, gamma=-3.0, method="compiled"), repeats=2, cpu=True)
        out[f"{dname}_threads{threads}_gamma-3_d5"] = 8000**2 / t
        out[f"{dname}_threads{threads}_gamma-3_d5_per_cpu_s"] = 8000**2 / c
        rows.append([dname, threads, "-3", 5, 8000, g3(8000**2 / t), g3(8000**2 / c)])
    torch.set_num_threads(threads)
    table("4. compiled Landau kernel: pairs/s by threads, gamma (0: no sqrt/div; -2.5: scalar pow) and d",
          ["dtype", "threads", "gamma", "d", "n", "pairs/s", "pairs/cpu-s"], rows)
    return out


# --------------------------------------------------------------------------- 5. moments at 10^6
def bench_moments_large():
    n, d = 10**6, 10
    out = {}
    for dname, dtype in DT.items():
        x, s = data(n, d, dtype)
        t, c, v = timed(lambda: ln.landau_velocity(x, s, gamma=0, method="moments"), repeats=3, cpu=True)
        out[dname] = {"n": n, "d": d, "t_s": t, "cpu_s": c}
        del v
    table("5. moment-form Maxwell velocity at n = 10^6, d = 10", ["dtype", "seconds", "cpu seconds"],
          [[k, f"{v['t_s']:.3f}", f"{v['cpu_s']:.3f}"] for k, v in out.items()])
    return out


# --------------------------------------------------------------------------- 6. random batch
def bench_random_batch(quick):
    n, p = (20000, 100) if quick else (10**5, 100)
    x, s = data(n, 3, F64, seed=3)
    t_full, v_full = timed(lambda: ln.landau_velocity(x, s, gamma=-3.0, method="compiled"),
                           repeats=1, warmup=False)
    g = torch.Generator().manual_seed(0)
    t_rb, v_rb = timed(lambda: ln.landau_velocity(x, s, gamma=-3.0, method="random_batch", batch_size=p,
                                                  generator=g), repeats=5, min_time=0.2)
    vmax = float(v_rb.abs().max())
    xmax = float(x.abs().max())
    eps = torch.finfo(F64).eps
    mom = float(v_rb.sum(0).abs().max())
    ene = float((x * v_rb).sum().abs())
    # per batch (the same permutation as landau_velocity draws)
    g2 = torch.Generator().manual_seed(12345)
    v2 = ln.landau_velocity(x, s, gamma=-3.0, method="random_batch", batch_size=p, generator=g2)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(12345))
    q = n // p
    bounds = list(range(0, p * (q - 1) + 1, p)) + [n]
    worst_m = worst_e = 0.0
    for b0, b1 in zip(bounds[:-1], bounds[1:]):
        idx = perm[b0:b1]
        vb, xb = v2[idx], x[idx]
        sc = float(vb.abs().max()) * (b1 - b0)
        worst_m = max(worst_m, float(vb.sum(0).abs().max()) / (sc * eps))
        worst_e = max(worst_e, float((xb * vb).sum().abs()) / (sc * float(xb.abs().max()) * eps))
    res = {"n": n, "d": 3, "dtype": "float64", "gamma": -3.0, "batch_size": p,
           "t_full_compiled_s": t_full, "t_random_batch_s": t_rb, "speedup": t_full / t_rb,
           "rel_err_vs_full": rel(v_rb, v_full),
           "momentum_residual": mom, "momentum_residual_over_n_max_v_eps": mom / (n * vmax * eps),
           "energy_residual": ene, "energy_residual_over_n_max_x_max_v_eps": ene / (n * vmax * xmax * eps),
           "worst_batch_momentum_residual_in_eps_units": worst_m,
           "worst_batch_energy_residual_in_eps_units": worst_e}
    table(f"6. random batches (batch {p}) vs full compiled sum, Coulomb, n = {n}, d = 3, float64",
          ["full s", "random batch s", "speed-up", "rel err", "|sum v|/(n max|v| eps)",
           "|sum x.v|/(n max|x| max|v| eps)"],
          [[f"{t_full:.2f}", f"{t_rb:.4f}", f"{t_full / t_rb:.0f}", f"{res['rel_err_vs_full']:.3f}",
            f"{res['momentum_residual_over_n_max_v_eps']:.2g}",
            f"{res['energy_residual_over_n_max_x_max_v_eps']:.2g}"]])
    sweep, rows = [], []
    for pb in (10, 30, 100, 300, 1000, 3000):
        g = torch.Generator().manual_seed(pb)
        errs, ts = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            v = ln.landau_velocity(x, s, gamma=-3.0, method="random_batch", batch_size=pb, generator=g)
            ts.append(time.perf_counter() - t0)
            errs.append(rel(v, v_full))
        sweep.append({"batch_size": pb, "rel_err_mean": sum(errs) / 3, "rel_err_runs": errs,
                      "t_s": min(ts), "speedup": t_full / min(ts)})
        rows.append([pb, f"{sum(errs) / 3:.3f}", f"{min(ts):.4f}", f"{t_full / min(ts):.0f}"])
    table(f"   error vs batch size (3 draws each; same n; full sum {t_full:.2f} s; unbiased scaling)",
          ["batch", "rel err (mean)", "seconds", "speed-up"], rows)
    res["error_vs_batch_size"] = sweep
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (about 1 minute)")
    ap.add_argument("--threads", type=int, default=2, help="torch and numba threads (default 2)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cpu.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not pairsum.numba_available():
        sys.exit("numba is not installed: the compiled kernels cannot be benchmarked")
    t_start = time.perf_counter()
    # compile (or load from numba's cache) before any timing
    for dtype in (F32, F64):
        for d in (3, 5):
            x, s = data(40, d, dtype)
            ln.landau_velocity(x, s, gamma=-3.0, method="compiled")
            ln.landau_velocity(x, s, gamma=-2.5, method="compiled")
            ln.blob_score(x, 0.5, method="compiled")
    import numba
    meta = {"quick": args.quick, "threads": args.threads, "torch": torch.__version__,
            "numba": numba.__version__, "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "load_average_start": os.getloadavg(),
            "compiled_min_n": pairsum.COMPILED_MIN_N,
            "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "NUMBA_NUM_THREADS")}}
    try:
        with open("/proc/cpuinfo") as fh:
            meta["cpu"] = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    results = {"meta": meta}
    results["compiled_vs_torch"] = bench_compiled(args.quick)
    results["crossover"] = bench_crossover()
    results["kernel_limits_pairs_per_s"] = bench_limits(args.threads)
    results["moments_vs_direct"] = bench_moments(args.quick)
    results["moments_large"] = bench_moments_large()
    results["random_batch"] = bench_random_batch(args.quick)
    meta["load_average_end"] = os.getloadavg()
    meta["wall_s"] = time.perf_counter() - t_start
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out} ({meta['wall_s']:.0f} s; load average {meta['load_average_start']} -> "
          f"{meta['load_average_end']})")


if __name__ == "__main__":
    main()
