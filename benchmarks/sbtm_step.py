"""The fused SBTM time step against a plain torch step, the ensemble speed-up, and the
estimated wall time of the paper-scale sweep (book: "Runtime").

    python benchmarks/sbtm_step.py [--quick]
        [--parts ratio,denoising,padding,scaling,ensemble,others,sweep,sweep_float32,sweep_check]
        [--out benchmarks/results/sbtm_step.json]

One SBTM time step = K = 25 Adam steps of the denoising loss (3.5) on the paper's network
(d -> 100 -> d, softsign), one evaluation s = s(X), and the gamma = 0 Landau velocity, for the
anisotropic Gaussian start (d = 3). "plain" is that step written the obvious way:
nn.Sequential, torch.optim.Adam, one batched forward of [x, x + a z, x - a z]; "fused" is
``SBTM(backend="fused")``. Part "denoising" times the K Adam steps alone (``SBTM.train``
against the plain loop, one thread) and measures the machine's peak in the same run by a
large matmul, printing the fraction. Ratios are measured in one run, alternating the two,
each time the best of k (the machine is shared: best-of-k is the least disturbed). Flop counts: per particle
and Adam step 30 d w (three points, forward 2 d w + backward 4 d w multiply-adds counted as 2).

The sweep estimate counts every run of ``ln.EXPERIMENTS`` at scale "paper" (steps from the
problem's t0, t_end, dt and the experiment's overrides) and prices it with per-step costs and
start-up costs measured here on one short solve (6 steps) at two particle counts per
(experiment, solver) -- the median time between steps, so preemptions on a shared machine
do not count -- extrapolated along the measured log-log slope; KDE snapshots (Example 5.1)
are priced separately. Not a test; pytest collects only tests/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import landau_nb as ln  # noqa: E402

ALPHA, LR, K, WIDTH = 0.4, 4e-4, 25, 100


def best_of(f, k):
    best = float("inf")
    for _ in range(k):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def set_threads(t):
    import numba
    torch.set_num_threads(t)
    numba.set_num_threads(t)


def flops_per_step(n, d, w=WIDTH, k=K):
    return 30.0 * d * w * n * k


def peak_gflops(threads):
    """Nominal peak: cores x 2 FMA ports x SIMD lanes x 2 flop x clock (from /proc/cpuinfo)."""
    mhz = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                mhz = float(line.split(":")[1])
                break
    except OSError:
        pass
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    bits = 512 if "avx512f" in flags else 256
    ghz = (mhz or 2000.0) / 1000
    return {"float64": threads * 2 * (bits // 64) * 2 * ghz, "float32": threads * 2 * (bits // 32) * 2 * ghz,
            "clock_ghz": ghz, "simd_bits": bits}


# ------------------------------------------------------------------------------------ steps
def plain_step_factory(problem, x):
    """The obvious torch step (what the issue compares against): the plain training, then
    s = net(x) and the velocity."""
    train, net = plain_training_factory(x)

    def step():
        train()
        with torch.no_grad():
            s = net(x)
        problem.velocity(x, s)

    return step


def fused_step_factory(problem, x, backend="fused"):
    est = ln.SBTM(init_tol=0.5, init_lr=1e-2, init_max_iter=200, backend=backend)
    est.initialize(problem, x, 0.0, 0)

    def step():
        s = est(x, 0.0)
        problem.velocity(x, s)

    return step


def sample(problem, n, dtype):
    return problem.sample(n, ln.make_generator(0, "initial-sample")).to(dtype)


def part_ratio(quick):
    problem = ln.anisotropic_gaussian(3)
    ns = [100, 1000, 12800] + ([] if quick else [100_000])
    rows = []
    for threads in (1, 2):
        set_threads(threads)
        for dtype in (torch.float32, torch.float64):
            for n in ns:
                x = sample(problem, n, dtype)
                plain, fused = plain_step_factory(problem, x), fused_step_factory(problem, x)
                plain(), fused()                                  # warm-up (and compile)
                k = 5 if n <= 1000 else (3 if n <= 12800 else 1)
                tp, tf = float("inf"), float("inf")
                for _ in range(k):                               # alternate: same load for both
                    tp = min(tp, best_of(plain, 1))
                    tf = min(tf, best_of(fused, 1))
                fl = flops_per_step(n, 3)
                row = {"threads": threads, "dtype": str(dtype)[6:], "n": n, "best_of": k,
                       "plain_s": tp, "fused_s": tf, "speedup": tp / tf,
                       "plain_gflops": fl / tp / 1e9, "fused_gflops": fl / tf / 1e9}
                rows.append(row)
                print(f"ratio  threads={threads} {row['dtype']} n={n:>6}: plain {tp * 1e3:9.2f} ms, fused "
                      f"{tf * 1e3:8.2f} ms, x{tp / tf:5.1f}, fused {row['fused_gflops']:.1f} GFlop/s", flush=True)
    set_threads(2)
    return rows


def plain_training_factory(x):
    """(train, net): the K Adam steps of the denoising loss written the obvious way
    (nn.Sequential, torch.optim.Adam, autograd), and the network they train."""
    d, n = x.shape[1], x.shape[0]
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(d, WIDTH), nn.Softsign(), nn.Linear(WIDTH, d)).to(x.dtype)
    opt = torch.optim.Adam(net.parameters(), lr=LR)

    def train():
        for _ in range(K):
            z = torch.randn(x.shape, dtype=x.dtype, generator=g)
            out = net(torch.cat([x, x + ALPHA * z, x - ALPHA * z]))
            s0, sp, sm = out[:n], out[n:2 * n], out[2 * n:]
            loss = (s0 * s0).sum(1).mean() + ((sp - sm) * z).sum(1).mean() / ALPHA
            opt.zero_grad()
            loss.backward()
            opt.step()

    return train, net


def matmul_peak(dtype, size=4096, k=3):
    """This machine's measured single-thread peak: GFlop/s of a large matmul (MKL), best of k."""
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    a @ b
    return 2.0 * size**3 / best_of(lambda: a @ b, k) / 1e9


def part_denoising(quick):
    """The denoising training alone (K = 25 Adam steps, noise draws and packing included: what
    ``SBTM.train`` costs), fused vs the plain torch loop, one thread, and the fused step's
    GFlop/s as a fraction of the machine's peak measured here by a large matmul (same run,
    measured before and after the timings; the larger is used)."""
    problem = ln.anisotropic_gaussian(3)
    ns = [100, 1000] if quick else [100, 1000, 12800]
    set_threads(1)
    rows = []
    for dtype in (torch.float32, torch.float64):
        peak0 = matmul_peak(dtype)
        part = []
        for n in ns:
            x = sample(problem, n, dtype)
            plain, _ = plain_training_factory(x)
            est = ln.SBTM(init_tol=0.5, init_lr=1e-2, init_max_iter=200, backend="fused")
            est.initialize(problem, x, 0.0, 0)
            fused = lambda: est.train(x)                # noqa: E731  (K steps: the adaptive stop is off)
            plain(), fused()                             # warm-up (and compile)
            k = 7 if n <= 1000 else 3
            tp, tf = float("inf"), float("inf")
            for _ in range(k):                           # alternate: same load for both
                tp = min(tp, best_of(plain, 1))
                tf = min(tf, best_of(fused, 3 if n <= 1000 else 1))
            fl = flops_per_step(n, 3)
            part.append({"threads": 1, "dtype": str(dtype)[6:], "n": n, "best_of": k, "plain_s": tp,
                         "fused_s": tf, "speedup": tp / tf, "fused_gflops": fl / tf / 1e9})
        peak = max(peak0, matmul_peak(dtype))
        for row in part:
            row.update(peak_gflops=peak, fraction_of_peak=row["fused_gflops"] / peak)
            print(f"denoising {row['dtype']} n={row['n']:>6}: plain {row['plain_s'] * 1e3:9.2f} ms, fused "
                  f"{row['fused_s'] * 1e3:8.2f} ms, x{row['speedup']:5.1f}, fused {row['fused_gflops']:.1f} "
                  f"GFlop/s = {row['fraction_of_peak']:.0%} of the measured peak {peak:.0f}", flush=True)
        rows += part
    set_threads(2)
    return rows


def part_padding(quick):
    """The denoising kernel alone (K Adam steps, one thread) compiled at the network's width 100
    and at the widths it could be padded to (zero hidden units), per dtype: time at 100 / time
    padded, alternating, best of k. Why float64 runs padded (``_sbtm_numba.PAD_FLOAT64``)."""
    from landau_nb.scores import _sbtm_numba as kern
    d, ns = 3, ([1000] if quick else [1000, 12800])
    set_threads(1)
    g = np.random.default_rng(0)
    rows = []
    for np_dtype in (np.float32, np.float64):
        for n in ns:
            x = g.standard_normal((1, n, d)).astype(np_dtype)
            z = g.standard_normal((1, K, n, d)).astype(np_dtype)
            consts = ln.SBTM().kernel_constants(n, np_dtype)
            adam = ln.SBTM().adam_constants(0, K)[None].astype(np_dtype)
            theta = 0.1 * g.standard_normal((1, kern.n_params(d, WIDTH))).astype(np_dtype)
            calls = {}
            for wp in (WIDTH, 104, 112):
                th = kern._pad(theta, d, WIDTH, wp) if wp != WIDTH else theta.copy()
                m1, m2 = np.zeros_like(th), np.zeros_like(th)
                fn = kern.denoising_kernels(d, wp)[0]
                calls[wp] = (lambda fn=fn, th=th, m1=m1, m2=m2:
                             fn(x, z, th, m1, m2, consts, adam, np.empty((1, K))))
                calls[wp]()                                  # compile / load
            best = {wp: float("inf") for wp in calls}
            for _ in range(5 if n <= 1000 else 3):           # alternate: same load for each
                for wp, f in calls.items():
                    best[wp] = min(best[wp], best_of(f, 1))
            row = {"dtype": np.dtype(np_dtype).name, "n": n, "seconds": {str(k): v for k, v in best.items()},
                   "used": kern.padded_width(WIDTH, np_dtype)}
            row["speedup_of_padding"] = {str(wp): best[WIDTH] / best[wp] for wp in (104, 112)}
            rows.append(row)
            print(f"padding {row['dtype']} n={n:>6}: width 100 {best[WIDTH] * 1e3:8.2f} ms, padded to 104 "
                  f"x{row['speedup_of_padding']['104']:.2f}, to 112 x{row['speedup_of_padding']['112']:.2f} "
                  f"(the kernels use {row['used']})", flush=True)
    set_threads(2)
    return rows


def part_scaling(quick):
    problem = ln.anisotropic_gaussian(3)
    ns = [100, 400, 1600, 6400, 25600] + ([] if quick else [102400])
    out = {}
    set_threads(2)
    for dtype in (torch.float32, torch.float64):
        times = {}
        for n in ns:
            x = sample(problem, n, dtype)
            f = fused_step_factory(problem, x)
            f()
            times[n] = best_of(f, 3 if n <= 25600 else 2)
            print(f"scaling {str(dtype)[6:]} n={n:>6}: {times[n] * 1e3:9.2f} ms per step", flush=True)
        big = [n for n in ns if n >= 1600]
        out[str(dtype)[6:]] = {"seconds_per_step": {str(n): t for n, t in times.items()},
                               "slope_1600_up": ln.loglog_slope(big, [times[n] for n in big]),
                               "slope_all": ln.loglog_slope(ns, [times[n] for n in ns])}
        print(f"  slope (n >= 1600) {out[str(dtype)[6:]]['slope_1600_up']:.2f}", flush=True)
    return out


def part_others(quick):
    """What limits the configurations the numba kernel does not cover, n = 1000, float64:
    per training (K = 25), and the floor set by the depth-2 network's three (3n x w) x (w x w)
    products per Adam step alone (torch matmul, MKL)."""
    n = 1000
    set_threads(2)
    out = {}
    cases = [("depth1_denoising_fused", ln.anisotropic_gaussian(3), {"backend": "fused"}),
             ("depth1_denoising_torch", ln.anisotropic_gaussian(3), {"backend": "torch"}),
             ("depth2_denoising_torch", ln.bkw(3), {"depth": 2, "backend": "torch"}),
             ("depth2_denoising_fused", ln.bkw(3), {"depth": 2, "backend": "fused"}),
             ("depth1_implicit_torch", ln.anisotropic_gaussian(3), {"loss": "implicit"}),
             ("depth1_weighted_denoising_torch", ln.anisotropic_gaussian(3), {"loss": "weighted_denoising"})]
    for name, problem, kw in cases:
        x = sample(problem, n, torch.float64)
        est = ln.SBTM(init_tol=0.9, init_lr=1e-2, init_max_iter=100, **kw)
        est.initialize(problem, x, problem.t0, 0)
        est.train(x)
        t = best_of(lambda: est.train(x), 3)
        out[name] = {"n": n, "dtype": "float64", "train_s": t}
        print(f"others {name}: {t * 1e3:.1f} ms per training (K = 25)", flush=True)
    a = torch.randn(3 * n, WIDTH, dtype=torch.float64)
    w = torch.randn(WIDTH, WIDTH, dtype=torch.float64)
    t = best_of(lambda: [a @ w for _ in range(3 * K)], 5)
    out["depth2_gemm_floor"] = {"n": n, "dtype": "float64", "train_s": t,
                                "gflops": 3 * K * 2 * 3 * n * WIDTH * WIDTH / t / 1e9}
    print(f"others depth-2 GEMM floor: {t * 1e3:.1f} ms per training ({out['depth2_gemm_floor']['gflops']:.0f} GFlop/s)",
          flush=True)
    return out


@contextlib.contextmanager
def _timed_kernel():
    """Seconds spent in the fused training kernel (``landau_nb.scores.sbtm.run_fused``) meanwhile."""
    spent, orig = [0.0], ln.scores.sbtm.run_fused

    def timed(*a, **k):
        t0 = time.perf_counter()
        try:
            return orig(*a, **k)
        finally:
            spent[0] += time.perf_counter() - t0

    ln.scores.sbtm.run_fused = timed
    try:
        yield spent
    finally:
        ln.scores.sbtm.run_fused = orig


def part_ensemble(quick):
    """5 seeds: solve_ensemble vs 5 single solves. Whole runs (t_end = 20 dt, start-up fit
    included) and the 20 steps alone (difference of runs of 25 and 5 steps)."""
    from landau_nb.solver.ensemble import solve_ensemble
    problem = ln.anisotropic_gaussian(3)
    seeds = [0, 1, 2, 3, 4]
    set_threads(2)
    out = {}
    for n in ((100,) if quick else (100, 1000)):
        res = {}
        for backend in ("fused", "torch"):
            def singles(steps):
                return [ln.solve(problem, "sbtm", seed=s, n=n, t_end=steps * problem.dt, backend=backend,
                                 init_tol=1e-2, init_lr=1e-2) for s in seeds]

            def ens(steps):
                return solve_ensemble(problem, "sbtm", seeds=seeds, n=n, t_end=steps * problem.dt,
                                      backend=backend, init_tol=1e-2, init_lr=1e-2)

            ens(2)
            singles(2)
            k = 3 if n <= 100 else 1
            t, kern = {}, {}
            for name, f in (("singles", singles), ("ensemble", ens)):
                for steps in (5, 20, 25):
                    t[name, steps] = float("inf")
            for _ in range(k):                                   # alternate the two
                for steps in (5, 20, 25):
                    for name, f in (("singles", singles), ("ensemble", ens)):
                        with _timed_kernel() as spent:
                            took = best_of(lambda: f(steps), 1)
                        if took < t[name, steps]:
                            t[name, steps], kern[name, steps] = took, spent[0]
            res[backend] = {"singles_run_s": t["singles", 20], "ensemble_run_s": t["ensemble", 20],
                            "singles_kernel_s": kern["singles", 20], "ensemble_kernel_s": kern["ensemble", 20],
                            "run_speedup": t["singles", 20] / t["ensemble", 20],
                            "singles_20_steps_s": t["singles", 25] - t["singles", 5],
                            "ensemble_20_steps_s": t["ensemble", 25] - t["ensemble", 5]}
            res[backend]["steps_speedup"] = res[backend]["singles_20_steps_s"] / res[backend]["ensemble_20_steps_s"]
        out[str(n)] = {"members": len(seeds), "steps": 20, "best_of": k, **res,
                       "fused_ensemble_vs_torch_singles_run": res["torch"]["singles_run_s"]
                       / res["fused"]["ensemble_run_s"],
                       "fused_ensemble_vs_torch_singles_steps": res["torch"]["singles_20_steps_s"]
                       / res["fused"]["ensemble_20_steps_s"]}
        for backend, r in res.items():
            print(f"ensemble n={n} {backend}: 5 singles {r['singles_run_s']:.2f} s / ensemble {r['ensemble_run_s']:.2f} s "
                  f"per run (x{r['run_speedup']:.2f}; training kernel {r['singles_kernel_s']:.2f} s / "
                  f"{r['ensemble_kernel_s']:.2f} s); 20 steps alone x{r['steps_speedup']:.2f}", flush=True)
        print(f"ensemble n={n}: fused ensemble vs 5 torch singles: run x{out[str(n)]['fused_ensemble_vs_torch_singles_run']:.1f}, "
              f"steps x{out[str(n)]['fused_ensemble_vs_torch_singles_steps']:.1f}", flush=True)
    return out


# ------------------------------------------------------------------------------------ sweep
SWEEP_DTYPE = {"dtype": torch.float64}


def _probe(exp, opts, solver, n, solve_kw, steps=6):
    """(seconds per step, start-up seconds) of one run at n from a short solve: the median of
    the wall time between consecutive steps (callback to callback: score, velocity and the
    recorded diagnostics; robust to the preemptions of a shared machine) and the time to the
    first step (the initial fit)."""
    problem = exp.make_problem()
    kw = {k: v for k, v in solve_kw.items() if k not in ("kde_l2", "save_every", "kde_samples", "t_end")}
    stamps = []
    t0 = time.perf_counter()
    ln.solve(problem, solver, n=n, seed=0, t_end=problem.t0 + steps * problem.dt, dtype=SWEEP_DTYPE["dtype"],
             callback=lambda *a: stamps.append(time.perf_counter()), **kw, **opts)
    per = float(np.median(np.diff(stamps)))
    return per, max(stamps[0] - t0 - per, 0.0)


def _kde_cost(exp, n, samples):
    problem = exp.make_problem()
    x = problem.sample(n, ln.make_generator(0, "k"))
    t = problem.t0
    t0 = time.perf_counter()
    ln.kde_l2_error(x, lambda y: problem.log_density(y, t), lambda m, g: problem.sample_at(m, t, g),
                    m=samples, generator=ln.make_generator(0, "kde"))
    return time.perf_counter() - t0


def _power_law(points):
    """Least-squares log-log line through the measured points: (slope, function of n)."""
    ns = sorted(points)
    if len(ns) == 1:
        return 0.0, lambda n: points[ns[0]]
    slope = ln.loglog_slope(ns, [points[k] for k in ns])
    ref = ns[-1]
    return slope, lambda n: points[ref] * (n / ref) ** slope


#: threads per run and runs at a time of the priced sweep: one thread per run on each core, as
#: the paper-scale sweep was run (``python -m landau_nb reproduce --scale paper``: one process
#: per core, one thread each)
SWEEP_THREADS, SWEEP_CORES = 1, 2


def _probe_ns(ns_run, quick):
    """The two particle counts at which a group is probed: its largest n and the n four times
    smaller (or the next smaller one). The cost of a group is dominated by its largest runs, so
    the slope is measured where they are, not in the overhead regime of small n."""
    if quick:
        ns_run = [n for n in ns_run if n <= 800] or ns_run[:1]
    top = ns_run[-1]
    lower = [n for n in ns_run if n <= top // 4] or [n for n in ns_run if n < top]
    return [lower[-1], top] if lower else [top]


def _run_price(per, start, kde_s):
    """The estimated seconds of one run, as a function of (n, steps, solve options), from the
    probes' per-step, start-up and KDE-snapshot costs ({n: seconds}), each along its power law."""
    step_cost = _power_law(per)[1]
    start_cost = _power_law({n: max(v, 1e-3) for n, v in start.items()})[1]
    kde_cost = _power_law(kde_s)[1] if kde_s else None

    def price(n, steps, solve_kw):
        c = start_cost(n) + steps * step_cost(n)
        if kde_cost is not None:
            c += (steps // solve_kw.get("save_every", steps) + 1) * kde_cost(n)
        return c

    return price


def part_sweep(quick):
    """Estimated wall time of every paper-scale run of the registry on this machine: each run
    priced on one thread, SWEEP_CORES runs at a time."""
    set_threads(SWEEP_THREADS)
    groups = {}
    for name, exp in ln.EXPERIMENTS.items():
        problem = exp.make_problem()
        for spec in exp.runs("paper"):
            g = groups.setdefault((name, spec.label), {"spec": spec, "runs": []})
            t_end = spec.solve.get("t_end", problem.t_end)
            g["runs"].append((spec.n, round((t_end - problem.t0) / problem.dt), spec.solve))
    total, rows = 0.0, []
    try:
        for (name, label), g in groups.items():
            spec, exp = g["spec"], ln.EXPERIMENTS[name]
            opts = {k: v for k, v in spec.options.items() if k != "record_losses"}
            ns_run = sorted({n for n, _, _ in g["runs"]})
            probes = _probe_ns(ns_run, quick)
            per, start = {}, {}
            for n in probes:
                per[n], start[n] = _probe(exp, opts, spec.solver, n, spec.solve)
            slope = _power_law(per)[0]
            start_slope = _power_law({n: max(v, 1e-3) for n, v in start.items()})[0]
            kde_s = {n: _kde_cost(exp, n, spec.solve.get("kde_samples", 2**14)) for n in probes} \
                if spec.solve.get("kde_l2") else {}
            kde_slope = _power_law(kde_s)[0] if kde_s else None
            price = _run_price(per, start, kde_s)
            cost = sum(price(n, steps, solve_kw) for n, steps, solve_kw in g["runs"])
            total += cost
            rows.append({"experiment": name, "label": label, "solver": spec.solver, "runs": len(g["runs"]),
                         "steps_per_run": sorted({s for _, s, _ in g["runs"]}), "ns": ns_run,
                         "probe_seconds_per_step": {str(n): v for n, v in per.items()},
                         "probe_startup_s": {str(n): v for n, v in start.items()}, "slope": slope,
                         "startup_slope": start_slope,
                         "kde_snapshot_s": {str(n): v for n, v in kde_s.items()}, "kde_slope": kde_slope,
                         "estimated_s": cost})
            print(f"sweep {name:>16}/{label:<24} {len(g['runs']):>3} runs: {cost / 60:8.1f} min (step at "
                  + ", ".join(f"n={n}: {v * 1e3:.1f} ms" for n, v in per.items())
                  + f"; slope {slope:.2f}; start-up " + ", ".join(f"{v:.1f}" for v in start.values()) + " s)",
                  flush=True)
    finally:
        set_threads(2)
    by_solver = {}
    for r in rows:
        by_solver[r["solver"]] = by_solver.get(r["solver"], 0.0) + r["estimated_s"]
    wall = total / SWEEP_CORES
    print(f"sweep total: {total / 3600:.2f} core-hours, {wall / 3600:.2f} h on {SWEEP_CORES} cores (" + ", ".join(
        f"{k}: {v / 3600:.2f} core-h" for k, v in by_solver.items()) + ")", flush=True)
    return {"probe": "largest n of each group and n/4", "threads_per_run": SWEEP_THREADS,
            "runs_at_a_time": SWEEP_CORES, "dtype": str(SWEEP_DTYPE["dtype"])[6:], "groups": rows,
            "total_s": total, "total_h": total / 3600, "wall_h": wall / 3600,
            "by_solver_h": {k: v / 3600 for k, v in by_solver.items()},
            "load_average": os.getloadavg()}


def part_sweep_float32(quick):
    SWEEP_DTYPE["dtype"] = torch.float32
    try:
        return part_sweep(quick)
    finally:
        SWEEP_DTYPE["dtype"] = torch.float64


#: whole paper-scale runs timed by "sweep_check": (experiment, label, n), one of each kind of cost
SWEEP_CHECK = (("anisotropic_d3", "sbtm", 12800), ("anisotropic_d10", "blob", 6400),
               ("coulomb_d3", "sbtm", 3200), ("bkw", "sbtm", 3200))


def part_sweep_check(quick):
    """A few whole paper-scale runs (seed 0) made by the runner as the sweep makes them (one
    thread, float32, into a temporary folder), against their price in the "sweep_float32"
    estimate (run that part first): how far the estimate is from a run on a quiet machine."""
    import tempfile
    record = json.loads(Path(ARGS_OUT["out"]).read_text()) if Path(ARGS_OUT["out"]).exists() else {}
    groups = {(g["experiment"], g["label"]): g for g in record.get("sweep_float32", {}).get("groups", [])}
    rows = []
    for name, label, n in SWEEP_CHECK:
        if quick:
            n = min(n, 400)
        g = groups.get((name, label))
        if g is None:
            raise RuntimeError("sweep_check prices runs with the sweep_float32 part: run it first")
        exp, problem = ln.EXPERIMENTS[name], ln.EXPERIMENTS[name].make_problem()
        spec = next(sp for sp in exp.runs("paper") if sp.label == label and sp.n == n and sp.seed == 0)
        steps = round((spec.solve.get("t_end", problem.t_end) - problem.t0) / problem.dt)
        price = _run_price(*({int(k): v for k, v in g[key].items()}
                             for key in ("probe_seconds_per_step", "probe_startup_s", "kde_snapshot_s"))
                           )(n, steps, spec.solve)
        with tempfile.TemporaryDirectory() as tmp:
            res = ln.run_experiment(name, "paper", out=tmp, dtype=torch.float32, labels=[label], ns=[n], seeds=[0],
                                    workers=1, threads=1, progress=False)
            secs = float(sum(tr.meta["run"]["seconds"] for _, tr in res.runs))
        rows.append({"experiment": name, "label": label, "n": n, "steps": steps, "run_s": secs,
                     "estimated_s": price, "ratio": secs / price})
        print(f"sweep_check {name}/{label} n={n}: run {secs:.1f} s, estimate {price:.1f} s "
              f"(x{secs / price:.2f})", flush=True)
    set_threads(2)
    return {"runs": rows}


PARTS = {"ratio": part_ratio, "denoising": part_denoising, "padding": part_padding, "scaling": part_scaling, "others": part_others,
         "ensemble": part_ensemble, "sweep": part_sweep, "sweep_float32": part_sweep_float32, "sweep_check": part_sweep_check}
ARGS_OUT = {"out": None}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller n (a smoke run)")
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sbtm_step.json"))
    args = ap.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    for p in parts:
        ln._checks.check_choice("part", p, tuple(PARTS))
    out = Path(args.out)
    ARGS_OUT["out"] = out
    record = json.loads(out.read_text()) if out.exists() else {}
    out.parent.mkdir(parents=True, exist_ok=True)
    for p in parts:                              # the record is written after each part
        load0, t_part = os.getloadavg(), time.perf_counter()
        record[p] = PARTS[p](args.quick)
        record.setdefault("meta", {})[p] = {"quick": args.quick, "load_average_start": load0,
                                            "load_average_end": os.getloadavg(),
                                            "wall_s": time.perf_counter() - t_part}
        record["meta"].update({
            "torch": torch.__version__, "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(), "peak_gflops_2_threads": peak_gflops(2)})
        out.write_text(json.dumps(record, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
